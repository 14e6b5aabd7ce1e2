from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from batchhub.core.queries import audit_events_for_user
from batchhub.core.reveal import no_store, reveal_once_pop, reveal_once_stash
from batchhub.core.roles import CSM, has_role, role_required
from batchhub.profiles.queries import profiles_count_estimate
from batchhub.projects import services
from batchhub.projects.forms import AppForm, GrantForm, InactivityForm, ProjectForm
from batchhub.projects.queries import (
    api_activity,
    api_call_get,
    app_get_for_user,
    partner_get,
    partners_grantable,
    project_get_for_user,
    project_grants_for_user,
    project_list_rows,
)


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    projects = project_list_rows(request.user)
    query = request.GET.get("q", "").strip()
    if query:
        projects = projects.filter(Q(name__icontains=query) | Q(customer__icontains=query))
    template = "projects/project_list.html#project-table" if request.htmx else "projects/project_list.html"
    return render(request, template, {"projects": projects, "query": query})


@role_required(CSM)
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = services.project_create(actor=request.user, **form.cleaned_data)
        reveal_once_stash(
            request,
            owner=str(project.code),
            label=f"REST API key of project {project.name}",
            secret=project.rest_api_key,
        )
        messages.success(request, f"Project {project.name} created. Add its apps below.")
        return redirect("projects:detail", code=project.code)
    return render(request, "projects/project_form.html", {"form": form})


def _detail_context(request: HttpRequest, project, **extra) -> dict:
    is_csm = has_role(request.user, CSM)
    context = {
        "project": project,
        "apps": list(project.apps.order_by("platform", "name")),
        "grants": list(project_grants_for_user(request.user, project)),
        "profiles_count": profiles_count_estimate(project),
        "can_manage": is_csm,
        "api_activity": api_activity(project),
        "revealed": reveal_once_pop(request, owner=str(project.code)),
    }
    if is_csm:
        context["grantable_partners"] = list(partners_grantable(project))
        context["recent_audit"] = list(audit_events_for_user(request.user, project_code=str(project.code))[:8])
        context.setdefault("inactivity_form", InactivityForm(initial={"inactivity_months": project.inactivity_months}))
        context.setdefault("app_form", AppForm())
    context.update(extra)
    return context


@login_required
@require_GET
def project_detail(request: HttpRequest, code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    return no_store(render(request, "projects/project_detail.html", _detail_context(request, project)))


@role_required(CSM)
@require_POST
def app_create(request: HttpRequest, code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    form = AppForm(request.POST)
    if form.is_valid():
        try:
            app = services.app_create(actor=request.user, project=project, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            reveal_once_stash(
                request, owner=str(project.code), label=f"REST API key of app {app.name}", secret=app.rest_api_key
            )
            messages.success(request, f"App {app} added.")
            return redirect("projects:detail", code=project.code)
    response = render(request, "projects/project_detail.html", _detail_context(request, project, app_form=form))
    response.status_code = 400
    return no_store(response)


@role_required(CSM)
@require_POST
def app_rotate_key(request: HttpRequest, code, app_code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    app = app_get_for_user(request.user, project, app_code)
    secret = services.app_rest_key_rotate(actor=request.user, app=app)
    reveal_once_stash(request, owner=str(project.code), label=f"New REST API key of app {app.name}", secret=secret)
    messages.warning(request, f"The REST API key of {app} was rotated: the old key no longer works.")
    return redirect("projects:detail", code=project.code)


@role_required(CSM)
@require_POST
def project_rotate_key(request: HttpRequest, code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    secret = services.project_rest_key_rotate(actor=request.user, project=project)
    reveal_once_stash(
        request, owner=str(project.code), label=f"New REST API key of project {project.name}", secret=secret
    )
    messages.warning(request, "The project REST API key was rotated: the old key no longer works.")
    return redirect("projects:detail", code=project.code)


@role_required(CSM)
@require_POST
def project_inactivity(request: HttpRequest, code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    form = InactivityForm(request.POST)
    if form.is_valid():
        try:
            services.project_inactivity_shorten(
                actor=request.user, project=project, months=form.cleaned_data["inactivity_months"]
            )
        except ValidationError as exc:
            form.add_error("inactivity_months", exc.message_dict["inactivity_months"])
        else:
            messages.success(
                request, f"Inactivity period shortened to {form.cleaned_data['inactivity_months']} months."
            )
            return redirect("projects:detail", code=project.code)
    project.refresh_from_db()
    response = render(request, "projects/project_detail.html", _detail_context(request, project, inactivity_form=form))
    response.status_code = 400
    return no_store(response)


@role_required(CSM)
@require_POST
def project_grant(request: HttpRequest, code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    form = GrantForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a partner to grant access to.")
        return redirect("projects:detail", code=project.code)
    partner = partner_get(form.cleaned_data["partner"])
    services.project_grant_partner(actor=request.user, project=project, partner=partner)
    messages.success(request, f"{partner} can now configure connectors on {project}.")
    return redirect("projects:detail", code=project.code)


@role_required(CSM)
@require_POST
def project_revoke(request: HttpRequest, code, partner_code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    partner = partner_get(partner_code)
    if services.project_revoke_partner(actor=request.user, project=project, partner=partner):
        messages.success(request, f"{partner} no longer has access to {project}.")
    return redirect("projects:detail", code=project.code)


@login_required
@require_GET
def api_call_detail(request: HttpRequest, code, token) -> HttpResponse:
    """The status of one API call, by the token its 202 answer carried."""
    project = project_get_for_user(request.user, code)
    call = api_call_get(project, token)
    return render(request, "projects/api_call_detail.html", {"project": project, "call": call})


@login_required
@require_GET
def api_call_lookup(request: HttpRequest, code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    token = request.GET.get("token", "").strip()
    try:
        call = api_call_get(project, token)
    except Http404:
        messages.error(request, f"No API call of {project.name} has the token “{token[:64]}”.")
        return redirect("projects:detail", code=project.code)
    return redirect("projects:api_call", code=project.code, token=call.token)
