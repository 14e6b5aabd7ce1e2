"""Screens of campaigns: a project's campaigns, the CSM's editor with its phone-style preview, the read-only page
partners read drafts on (what the template picker previews)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from batchhub.campaigns import services
from batchhub.campaigns.forms import (
    CampaignForm,
    campaign_initial,
    message_formset,
    posted_rows,
    preview_from_post,
)
from batchhub.campaigns.models import Campaign
from batchhub.campaigns.reads import (
    Preview,
    campaign_can_change,
    campaign_get_for_user,
    campaign_list_rows,
    campaign_preview,
    campaign_project_get_for_user,
    campaign_project_rows,
    messages_in_order,
)
from batchhub.core.roles import CSM, PARTNER, has_role, role_required

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
    response = render(
        request, "campaigns/campaign_list.html#results" if request.htmx else "campaigns/campaign_list.html", context
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


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
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


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
