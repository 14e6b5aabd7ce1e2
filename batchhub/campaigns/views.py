"""Screens of campaigns: a project's campaigns, the CSM's editor with its phone-style preview, the read-only page
partners read drafts on (what the template picker previews)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from batchhub.campaigns import services
from batchhub.campaigns.forms import (
    CampaignForm,
    TemplateBindForm,
    campaign_initial,
    message_formset,
    posted_rows,
    preview_from_post,
)
from batchhub.campaigns.models import Campaign
from batchhub.campaigns.reads import (
    PickerFilters,
    Preview,
    binding_get,
    binding_rows,
    campaign_can_change,
    campaign_get_for_user,
    campaign_list_rows,
    campaign_preview,
    campaign_project_get_for_user,
    campaign_project_rows,
    messages_in_order,
    picker_connector_get_for_user,
    picker_draft_get,
    picker_filter_choices,
    picker_project_get_for_user,
    picker_search,
    project_bindings,
    project_campaign_counts,
    template_payload,
)
from batchhub.connectors.models import Connector
from batchhub.core.roles import CSM, PARTNER, has_role, role_required
from batchhub.projects.models import Project
from batchhub.projects.panels import panel_get_for_user, panel_render

_STATUS = {"live": True, "draft": False}


@login_required
@require_GET
def campaign_index(request: HttpRequest) -> HttpResponse:
    """The projects whose campaigns the user reads, with their counts."""
    if not has_role(request.user, CSM, PARTNER):
        raise Http404("No such page")
    context = {"projects": list(campaign_project_rows(request.user)), "can_change": campaign_can_change(request.user)}
    return render(request, "campaigns/campaign_index.html", context)


@login_required
@require_GET
def campaign_list(request: HttpRequest, code) -> HttpResponse:
    """A project's campaigns: a CSM filters by live/draft and channel; a partner user sees drafts only."""
    project = campaign_project_get_for_user(request.user, code)
    can_change = campaign_can_change(request.user)
    status = request.GET.get("status", "") if can_change else ""
    status = status if status in _STATUS else ""
    channel = request.GET.get("channel", "")
    channel = channel if channel in Campaign.Channel.values else ""
    rows = campaign_list_rows(request.user, project=project, is_live=_STATUS.get(status), channel=channel)
    context = {
        "project": project,
        "campaigns": list(rows[:500]),
        "can_change": can_change,
        "status": status,
        "channel": channel,
        "channels": Campaign.Channel.choices,
    }
    return render(
        request, "campaigns/campaign_list.html#results" if request.htmx else "campaigns/campaign_list.html", context
    )


@role_required(CSM)
@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest, code) -> HttpResponse:
    project = campaign_project_get_for_user(request.user, code)
    return _editor(request, project=project, campaign=None)


@role_required(CSM)
@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, code) -> HttpResponse:
    campaign = campaign_get_for_user(request.user, code)
    return _editor(request, project=campaign.project, campaign=campaign)


def _editor(request: HttpRequest, *, project, campaign: Campaign | None) -> HttpResponse:
    """The editor: GET shows it; POST saves it, or with "Add a language" or "Preview" shows it again as typed (one
    more language row, or the preview of what is typed: the twin of the live preview) without saving."""
    status = 200
    if request.method == "GET":
        initial, rows = campaign_initial(campaign) if campaign else ({}, None)
        form = CampaignForm(initial=initial, project=project)
        formset = message_formset(initial=rows)
        preview = campaign_preview(campaign) if campaign else Preview(app_name=project.name)
    elif "add_language" in request.POST or "preview" in request.POST:
        form = CampaignForm(initial=_posted_initial(request.POST), project=project)
        rows = posted_rows(request.POST)
        formset = message_formset(initial=rows or None, extra=int("add_language" in request.POST or not rows))
        preview = preview_from_post(request.POST, project=project)
    else:
        form = CampaignForm(request.POST, project=project)
        formset = message_formset(request.POST)
        if form.is_valid() & formset.is_valid():  # both, so that every error shows at once
            saved = _save(request, form=form, formset=formset, project=project, campaign=campaign)
            if saved is not None:
                return redirect("campaigns:detail", code=saved.code)
        status = 400
        preview = preview_from_post(request.POST, project=project)
    context = {"project": project, "campaign": campaign, "form": form, "formset": formset, "preview": preview}
    return render(request, "campaigns/campaign_form.html", context, status=status)


def _posted_initial(data) -> dict:
    return {name: data.get(name, "") for name in CampaignForm.base_fields if name != "is_live"} | {
        "is_live": bool(data.get("is_live"))
    }


def _save(request: HttpRequest, *, form, formset, project, campaign: Campaign | None) -> Campaign | None:
    fields = {name: form.cleaned_data[name] for name in services.CAMPAIGN_FIELDS}
    try:
        if campaign is None:
            campaign = services.campaign_create(
                actor=request.user, project=project, fields=fields, messages=formset.messages()
            )
            messages.success(request, f"Campaign {campaign.name} created.")
        elif services.campaign_update(
            actor=request.user, campaign=campaign, fields=fields, messages=formset.messages()
        ):
            messages.success(request, f"Campaign {fields['name']} saved.")
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None
    return campaign


@role_required(CSM)
@require_POST
def campaign_preview_render(request: HttpRequest, code) -> HttpResponse:
    """The phone-style preview of what is typed in the editor: the partial for htmx, a page of its own otherwise."""
    project = campaign_project_get_for_user(request.user, code)
    context = {"project": project, "preview": preview_from_post(request.POST, project=project)}
    template = "campaigns/_preview.html" if request.htmx else "campaigns/preview_page.html"
    return render(request, template, context)


@login_required
@require_GET
def campaign_detail(request: HttpRequest, code) -> HttpResponse:
    """A campaign read-only: its content per language, deeplink, media and payload, with the preview."""
    campaign = campaign_get_for_user(request.user, code)
    context = {
        "project": campaign.project,
        "campaign": campaign,
        "campaign_messages": messages_in_order(campaign.messages.all()),
        "preview": campaign_preview(campaign),
        "can_change": campaign_can_change(request.user),
    }
    return render(request, "campaigns/campaign_detail.html", context)


@role_required(CSM)
@require_http_methods(["GET", "POST"])
def campaign_delete(request: HttpRequest, code) -> HttpResponse:
    campaign = campaign_get_for_user(request.user, code)
    if request.method == "POST":
        services.campaign_delete(actor=request.user, campaign=campaign)
        messages.success(request, f"Campaign {campaign.name} deleted.")
        return redirect("campaigns:list", code=campaign.project.code)
    return render(
        request, "campaigns/campaign_confirm_delete.html", {"campaign": campaign, "project": campaign.project}
    )


# ---- the template picker ------------------------------------------------------------------------------------------


def _picker_filters(request: HttpRequest) -> PickerFilters:
    """The search and filters as asked; an unknown app or language matches nothing, an unknown channel is ignored."""
    channel = request.GET.get("channel", "")
    return PickerFilters(
        q=request.GET.get("q", "").strip()[:200],
        channel=channel if channel in Campaign.Channel.values else "",
        app=request.GET.get("app", "")[:36],
        language=request.GET.get("language", "")[:16],
    )


@dataclass(frozen=True)
class _Scope:
    """Whose picker: a connector's (its partner's users, who bind) or a project's (a CSM, who reads)."""

    project: Project
    connector: Connector | None
    url: str  # the picker's address; a draft's preview is at `url` + its code + "/"


def _connector_scope(request: HttpRequest, code) -> _Scope:
    connector = picker_connector_get_for_user(request.user, code)
    return _Scope(connector.project, connector, reverse("campaigns:picker", args=[connector.code]))


def _project_scope(request: HttpRequest, code) -> _Scope:
    project = picker_project_get_for_user(request.user, code)
    return _Scope(project, None, reverse("campaigns:project_picker", args=[project.code]))


def _bindings(scope: _Scope):
    if scope.connector is not None:
        return binding_rows(scope.connector.template_bindings.all())
    return binding_rows(project_bindings(scope.project))


def _query_context(request: HttpRequest) -> dict[str, str]:
    """The search as asked, without the page cursor: for "load more", and for each row's no-JS preview link (which
    keeps the results around the preview)."""
    query = request.GET.copy()
    query.pop("after", None)
    query = query.urlencode()
    return {"query": query, "preview_query": f"?{query}" if query else ""}


def _picker_render(request: HttpRequest, scope: _Scope, *, selected=None, form=None, status: int = 200):
    """The whole picker page: search, results, the preview of `selected` and the bindings (the no-JS twin of every
    htmx request)."""
    filters = _picker_filters(request)
    rows, after = picker_search(scope.project.pk, filters, after=request.GET.get("after", ""))
    if selected is not None and form is None and scope.connector is not None:
        form = TemplateBindForm(initial={"campaign": selected.code})
    context = {
        "scope": scope,
        "connector": scope.connector,
        "picker_url": scope.url,
        "filters": filters,
        **_query_context(request),
        "rows": rows,
        "after": after,
        "selected": selected,
        "preview": campaign_preview(selected) if selected else None,
        "payload": template_payload(selected) if selected else "",
        "form": form,
        "bindings": _bindings(scope),
        **picker_filter_choices(scope.project.pk),
    }
    return render(request, "campaigns/picker.html", context, status=status)


def _picker_results(request: HttpRequest, scope: _Scope) -> HttpResponse:
    """The search: the results only (a search, a filter) or the next page of rows ("load more", with `after`) for
    htmx; the whole picker without."""
    if not request.htmx:
        return _picker_render(request, scope)
    after = request.GET.get("after", "")
    rows, next_after = picker_search(scope.project.pk, _picker_filters(request), after=after)
    context = {"picker_url": scope.url, "rows": rows, "after": next_after, **_query_context(request)}
    return render(request, f"campaigns/picker.html#{'rows' if after else 'results'}", context)


def _picker_preview(request: HttpRequest, scope: _Scope, campaign_code) -> HttpResponse:
    """A draft's preview pane (with its "Use for scenario…" form on a connector's picker); the whole picker around
    it without htmx."""
    draft = picker_draft_get(scope.project.pk, campaign_code)
    if not request.htmx:
        return _picker_render(request, scope, selected=draft)
    context = {
        "connector": scope.connector,
        "picker_url": scope.url,
        "selected": draft,
        "preview": campaign_preview(draft),
        "payload": template_payload(draft),
        "form": TemplateBindForm(initial={"campaign": draft.code}) if scope.connector else None,
    }
    return render(request, "campaigns/picker.html#preview-pane", context)


@login_required
@require_GET
def picker(request: HttpRequest, code) -> HttpResponse:
    """The connector's template picker, for its partner's users."""
    return _picker_results(request, _connector_scope(request, code))


@login_required
@require_GET
def picker_preview(request: HttpRequest, code, campaign_code) -> HttpResponse:
    return _picker_preview(request, _connector_scope(request, code), campaign_code)


@login_required
@require_GET
def project_picker(request: HttpRequest, code) -> HttpResponse:
    """The project's drafts and every connector's bindings, for a CSM: the same search and previews, no binding
    (the partner's users bind their connector's scenarios)."""
    return _picker_results(request, _project_scope(request, code))


@login_required
@require_GET
def project_panel(request: HttpRequest, code) -> HttpResponse:
    """The project page's "Campaigns and templates" panel (CSMs): counts, and the ways to the campaigns and to the
    project's picker."""
    panel = panel_get_for_user(request.user, "campaigns")
    project = picker_project_get_for_user(request.user, code)
    context = {"counts": project_campaign_counts(project)}
    return panel_render(request, panel=panel, project=project, template="campaigns/project_panel.html", context=context)


@login_required
@require_GET
def project_picker_preview(request: HttpRequest, code, campaign_code) -> HttpResponse:
    return _picker_preview(request, _project_scope(request, code), campaign_code)


@login_required
@require_POST
def picker_bind(request: HttpRequest, code) -> HttpResponse:
    """Bind (or, with "replace", rebind) a scenario to a draft; htmx gets the form back and a `bindingsChanged`
    event the bindings table listens to."""
    scope = _connector_scope(request, code)
    connector = scope.connector
    form = TemplateBindForm(request.POST)
    draft = picker_draft_get(connector.project_id, request.POST.get("campaign", ""))
    binding = None
    if form.is_valid():
        try:
            binding = services.template_binding_save(
                actor=request.user,
                connector=connector,
                scenario=form.cleaned_data["scenario"],
                campaign=draft,
                replace=form.cleaned_data["replace"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
    if binding is not None and not request.htmx:
        messages.success(request, f"Scenario {binding.scenario} now sends {draft.name}.")
        return redirect("campaigns:picker", code=connector.code)
    if not request.htmx:
        return _picker_render(request, scope, selected=draft, form=form, status=400)
    if binding is not None:
        form = TemplateBindForm(initial={"campaign": draft.code})
    context = {"connector": connector, "picker_url": scope.url, "selected": draft, "form": form, "bound": binding}
    # a form with errors is a 422, which base.html's htmx-config swaps in (htmx 2 swaps no 4xx by default)
    response = render(request, "campaigns/picker.html#bind-form", context, status=200 if binding else 422)
    if binding is not None:
        response["HX-Trigger"] = "bindingsChanged"
    return response


@login_required
@require_GET
def picker_bindings(request: HttpRequest, code) -> HttpResponse:
    """The bindings table (what htmx reloads on `bindingsChanged`); the whole picker without htmx."""
    scope = _connector_scope(request, code)
    if not request.htmx:
        return _picker_render(request, scope)
    context = {"connector": scope.connector, "picker_url": scope.url, "bindings": _bindings(scope)}
    return render(request, "campaigns/picker.html#bindings", context)


@login_required
@require_POST
def picker_binding_refresh(request: HttpRequest, code, binding_code) -> HttpResponse:
    """Accept the bound draft's changes: rebind the scenario to the same draft as it is now."""
    connector = picker_connector_get_for_user(request.user, code)
    binding = binding_get(connector, binding_code)
    draft = picker_draft_get(connector.project_id, binding.campaign.code)
    services.template_binding_save(
        actor=request.user, connector=connector, scenario=binding.scenario, campaign=draft, replace=True
    )
    return _binding_changed(request, connector, f"Scenario {binding.scenario} rebound to {draft.name} as it is now.")


@login_required
@require_POST
def picker_binding_delete(request: HttpRequest, code, binding_code) -> HttpResponse:
    connector = picker_connector_get_for_user(request.user, code)
    binding = binding_get(connector, binding_code)
    services.template_binding_delete(actor=request.user, binding=binding)
    return _binding_changed(request, connector, f"Scenario {binding.scenario} unbound.")


def _binding_changed(request: HttpRequest, connector, message: str) -> HttpResponse:
    if not request.htmx:
        messages.success(request, message)
        return redirect("campaigns:picker", code=connector.code)
    response = HttpResponse(status=204)
    response["HX-Trigger"] = "bindingsChanged"
    return response
