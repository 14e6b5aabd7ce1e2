from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from batchhub.core.queries import audit_events_for_user
from batchhub.core.roles import CSM, has_role, role_required
from batchhub.core.secrets.reveal import no_store, reveal_once_pop, reveal_once_stash
from batchhub.projects import services
from batchhub.projects.forms import AppForm, GrantForm, ProjectForm, RestKeyForm, RestKeyRotateForm
from batchhub.projects.panels import panels_for_user
from batchhub.projects.queries import (
    customer_names,
    partner_get,
    partners_grantable,
    project_get_for_user,
    project_grants_for_user,
    projects_search,
    rest_key_get_for_project,
    rest_keys_for_project,
)


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    projects = projects_search(request.user, query=query)
    template = "projects/project_list.html#project-table" if request.htmx else "projects/project_list.html"
    return render(request, template, {"projects": projects, "query": query})


@role_required(CSM)
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project, secret = services.project_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            if secret is not None:
                reveal_once_stash(
                    request,
                    owner=str(project.code),
                    label=f"Company REST API key of {project.customer.name} (every project of the company)",
                    secret=secret,
                )
            messages.success(request, f"Project {project.name} created. Add its apps below.")
            return redirect("projects:detail", code=project.code)
    return render(request, "projects/project_form.html", {"form": form, "customers": customer_names()})


def _detail_context(request: HttpRequest, project, **extra) -> dict:
    is_csm = has_role(request.user, CSM)
    context = {
        "project": project,
        "apps": list(project.apps.order_by("platform", "name")),
        "grants": list(project_grants_for_user(request.user, project)),
        # Panels of other apps: placeholders that load from each app's own URL (projects/panels.py).
        "panels": [(panel, panel.url(project)) for panel in panels_for_user(request.user)],
        "can_manage": is_csm,
        "rest_keys": rest_keys_for_project(project) if is_csm else [],
        "revealed": reveal_once_pop(request, owner=str(project.code)),
    }
    if is_csm:
        context["grantable_partners"] = list(partners_grantable(project))
        context["recent_audit"] = list(audit_events_for_user(request.user, project_code=str(project.code))[:8])
        context.setdefault("app_form", AppForm())
        context.setdefault("rest_key_form", RestKeyForm())
        context["rotate_form"] = RestKeyRotateForm(auto_id=False)  # one per key row: no repeated ids
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
            messages.success(request, f"App {app} added: the customer's REST API keys work for it.")
            return redirect("projects:detail", code=project.code)
    response = render(request, "projects/project_detail.html", _detail_context(request, project, app_form=form))
    response.status_code = 400
    return no_store(response)


@role_required(CSM)
@require_POST
def rest_key_create(request: HttpRequest, code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    form = RestKeyForm(request.POST)
    if form.is_valid():
        narrowed = form.cleaned_data["scope"] == RestKeyForm.PROJECT
        key, secret = services.rest_key_create(
            actor=request.user,
            customer=project.customer,
            project=project if narrowed else None,
            name=form.cleaned_data["name"],
            at=project,
        )
        reveal_once_stash(
            request, owner=str(project.code), label=f"REST API key “{key.name}” ({key.scope_label})", secret=secret
        )
        messages.success(request, f"REST API key “{key.name}” created.")
        return redirect("projects:detail", code=project.code)
    response = render(request, "projects/project_detail.html", _detail_context(request, project, rest_key_form=form))
    response.status_code = 400
    return no_store(response)


@role_required(CSM)
@require_POST
def rest_key_rotate(request: HttpRequest, code, key_code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    key = rest_key_get_for_project(project, key_code)
    form = RestKeyRotateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "; ".join(str(error) for errors in form.errors.values() for error in errors))
        return redirect("projects:detail", code=project.code)
    hours = form.cleaned_data["overlap_hours"]
    try:
        secret = services.rest_key_rotate(actor=request.user, key=key, overlap=dt.timedelta(hours=hours), at=project)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("projects:detail", code=project.code)
    reveal_once_stash(
        request, owner=str(project.code), label=f"New REST API key “{key.name}” ({key.scope_label})", secret=secret
    )
    if hours:
        messages.warning(request, f"“{key.name}” was rotated: the old key keeps working for {hours} h.")
    else:
        messages.warning(request, f"“{key.name}” was rotated: the old key no longer works.")
    return redirect("projects:detail", code=project.code)


@role_required(CSM)
@require_POST
def rest_key_revoke(request: HttpRequest, code, key_code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    key = rest_key_get_for_project(project, key_code)
    if services.rest_key_revoke(actor=request.user, key=key, at=project):
        messages.warning(request, f"“{key.name}” was revoked: calls with it fail from now on.")
    return redirect("projects:detail", code=project.code)


@role_required(CSM)
@require_POST
def project_grant(request: HttpRequest, code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    form = GrantForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a partner to grant access to.")
        return redirect("projects:detail", code=project.code)
    try:
        partner = partner_get(form.cleaned_data["partner"])
    except Http404:
        messages.error(request, "That partner no longer exists: choose one from the list.")
        return redirect("projects:detail", code=project.code)
    _, created = services.project_grant_partner(actor=request.user, project=project, partner=partner)
    if created:
        messages.success(request, f"{partner} can now configure connectors on {project}.")
    else:
        messages.info(request, f"{partner} already has access to {project}: nothing changed.")
    return redirect("projects:detail", code=project.code)


@role_required(CSM)
@require_POST
def project_revoke(request: HttpRequest, code, partner_code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    partner = partner_get(partner_code)
    if services.project_revoke_partner(actor=request.user, project=project, partner=partner):
        messages.success(request, f"{partner} no longer has access to {project}.")
    return redirect("projects:detail", code=project.code)
