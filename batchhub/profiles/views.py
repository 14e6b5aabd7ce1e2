from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from batchhub.core.roles import CSM, has_role, role_required
from batchhub.core.secrets.reveal import no_store
from batchhub.profiles.forms import PurgePeriodForm, PurgeShortenForm
from batchhub.profiles.purge_rule import profile_is_purge_eligible, profile_purge_after
from batchhub.profiles.queries import (
    profile_events_recent,
    profile_get,
    profile_installations,
    profiles_by_activity_month,
    profiles_count_estimate,
    profiles_page,
    purge_forecast,
    purge_next_run_at,
    purge_runs_recent,
)
from batchhub.projects import services as project_services
from batchhub.projects.models import months_text
from batchhub.projects.panels import panel_get_for_user, panel_render
from batchhub.projects.queries import project_get_for_user


@login_required
@require_GET
def profile_list(request: HttpRequest, code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    query = request.GET.get("q", "").strip()[:200]
    cursor = request.GET.get("after")
    page = profiles_page(project, query=query, cursor=cursor, size=settings.PROFILES_PAGE_SIZE)
    context = {"project": project, "page": page, "query": query}
    if request.htmx and cursor:
        return render(request, "profiles/profile_list.html#profile-rows", context)
    count, is_estimate = profiles_count_estimate(project, query=query)
    context.update(count=count, count_is_estimate=is_estimate)
    template = "profiles/profile_list.html#profile-results" if request.htmx else "profiles/profile_list.html"
    return render(request, template, context)


@login_required
@require_GET
def profile_detail(request: HttpRequest, code, profile_code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    profile = profile_get(project, profile_code)
    months = project.inactivity_months_in_force
    context = {
        "project": project,
        "profile": profile,
        "events": profile_events_recent(profile),
        "installations": profile_installations(profile),
        "purge_months": months,
        "purge_after": profile_purge_after(profile, months),
        "is_purge_eligible": profile_is_purge_eligible(profile, months),
        "next_purge_at": purge_next_run_at(),
    }
    return render(request, "profiles/profile_detail.html", context)


@login_required
@require_GET
def project_panel(request: HttpRequest, code) -> HttpResponse:
    """The project page's profiles panel: how many profiles, and the way in to the list."""
    panel = panel_get_for_user(request.user, "profiles")
    project = project_get_for_user(request.user, code)
    count, is_estimate = profiles_count_estimate(project)
    context = {"count": count, "count_is_estimate": is_estimate}
    return panel_render(request, panel=panel, project=project, template="profiles/project_panel.html", context=context)


# ---- the purge panel, its preview of a shorter period, its history ----------------------------------------------


def _purge_context(request: HttpRequest, project, **extra) -> dict:
    """What the purge panel and the preview show (`extra` adds to it or replaces)."""
    months = project.inactivity_months_in_force
    now = timezone.now()
    return {
        "project": project,
        "now": now,
        "months": months,
        "forecast": purge_forecast(project, months=months, now=now),
        "by_month": profiles_by_activity_month(project),
        "runs": purge_runs_recent(project),
        "can_manage": has_role(request.user, CSM),
        "period_form": PurgePeriodForm(),
    } | extra


@login_required
@require_GET
def purge_panel(request: HttpRequest, code) -> HttpResponse:
    """The project page's purge panel: what the next run deletes, what falls out next, the chart, a sample, the runs."""
    panel = panel_get_for_user(request.user, "purge")
    project = project_get_for_user(request.user, code)
    context = _purge_context(request, project)
    return panel_render(request, panel=panel, project=project, template="profiles/purge_panel.html", context=context)


def _shorten_page(request: HttpRequest, project, months: int, *, form=None, status: int = 200) -> HttpResponse:
    """The preview of a shorter period: the same chart with both cutoffs, the counts, the confirmation form."""
    context = _purge_context(request, project)
    proposed = purge_forecast(project, months=months, now=context["now"])
    context.update(
        proposed=proposed,
        proposed_text=months_text(months),
        more=proposed.deleted_next_run - context["forecast"].deleted_next_run,
        form=form or PurgeShortenForm(initial={"months": months}),
    )
    # on the field, and on its bound field that a validated form has made already
    context["form"].fields["confirm"].label = context["form"]["confirm"].label = (
        f"Type {proposed.deleted_next_run} to confirm"
    )
    response = render(request, "profiles/purge_shorten.html", context, status=status)
    return no_store(response)


@role_required(CSM)
@require_GET
def purge_shorten_preview(request: HttpRequest, code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    form = PurgePeriodForm(request.GET)
    if form.is_valid():
        refusal = project.inactivity_shorten_refusal(form.cleaned_data["months"])
        if refusal:
            form.add_error("months", refusal)
    if not form.is_valid():
        panel = panel_get_for_user(request.user, "purge")
        context = _purge_context(request, project, period_form=form, panel=panel)
        return no_store(render(request, "profiles/purge_panel.html", context, status=400))
    return _shorten_page(request, project, form.cleaned_data["months"])


@role_required(CSM)
@require_POST
def purge_shorten(request: HttpRequest, code) -> HttpResponse:
    """Confirm a shorter period: the number typed must be what the next run would delete now (else the page shows the
    new number and asks again)."""
    project = project_get_for_user(request.user, code)
    form = PurgeShortenForm(request.POST)
    if not form.is_valid():
        months = form.cleaned_data.get("months")
        if months is None:
            return HttpResponseBadRequest("The period to confirm is missing or out of range.")
        return _shorten_page(request, project, months, form=form, status=400)
    months = form.cleaned_data["months"]
    deleted = purge_forecast(project, months=months).deleted_next_run
    if form.cleaned_data["confirm"] != deleted:
        form.add_error("confirm", f"The next run would delete {deleted:,} profiles: type {deleted} to confirm.")
        return _shorten_page(request, project, months, form=form, status=400)
    try:
        project_services.project_inactivity_shorten(
            actor=request.user, project=project, months=months, deleted_at_next_run=deleted
        )
    except ValidationError as exc:
        form.add_error(None, exc.message_dict["inactivity_months"])
        return _shorten_page(request, project, months, form=form, status=400)
    messages.success(
        request,
        f"The inactivity period becomes {months_text(months)} at the next purge run, which deletes {deleted:,} "
        "profiles. Until then you can cancel it.",
    )
    return redirect(reverse("projects:detail", kwargs={"code": project.code}) + "#panel-purge")


@role_required(CSM)
@require_POST
def purge_shorten_cancel(request: HttpRequest, code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    waiting = project.inactivity_months_next
    project_services.project_inactivity_cancel(actor=request.user, project=project)
    if waiting:
        messages.success(
            request, f"The shorter period ({months_text(waiting)}) is cancelled: nothing was deleted by it."
        )
    return redirect(reverse("projects:detail", kwargs={"code": project.code}) + "#panel-purge")


@login_required
@require_GET
def purge_history(request: HttpRequest, code) -> HttpResponse:
    """The project's last 400 purge runs (more than a year of daily runs), newest first."""
    panel = panel_get_for_user(request.user, "purge")
    project = project_get_for_user(request.user, code)
    runs = purge_runs_recent(project, limit=400)
    return render(request, "profiles/purge_history.html", {"project": project, "panel": panel, "runs": runs})
