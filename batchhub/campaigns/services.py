"""Writes of campaigns from the dashboard: create, update, soft delete; each audited (`campaign.<verb>`)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from batchhub.campaigns.models import Campaign, CampaignMessage, TemplateBinding
from batchhub.campaigns.reads import campaign_fingerprint
from batchhub.campaigns.rules import payload_object
from batchhub.core.audit.record import audit_record, model_snapshot, snapshot_diff

# What a CSM sets on the form: the fields the audit diff follows, beside the messages.
CAMPAIGN_FIELDS = [
    "name",
    "app",
    "channel",
    "is_live",
    "priority",
    "push_time",
    "local_push_time",
    "deeplink",
    "media_icon",
    "media_picture",
    "custom_payload",
    "labels",
]


def _messages_snapshot(campaign: Campaign) -> list[list[str]]:
    return [[m.language, m.title, m.body] for m in campaign.messages.order_by("language")]


def _check(*, project, fields: dict[str, Any], messages: list[dict[str, str]]) -> None:
    """The rules the form also checks, kept here so that no caller can skip them."""
    errors: dict[str, list[str]] = {}
    app = fields.get("app")
    if app is not None and app.project_id != project.pk:
        errors.setdefault("app", []).append("This app is not one of the project's.")
    if fields.get("push_time") and fields.get("local_push_time"):
        errors.setdefault("local_push_time", []).append("Give a push time or a local push time, not both.")
    payload = fields.get("custom_payload") or ""
    if payload:
        try:
            payload_object(payload)
        except ValueError as error:
            errors.setdefault("custom_payload", []).append(f"The custom payload must be a JSON object: {error}.")
    languages = [m["language"] for m in messages]
    if not messages:
        errors.setdefault("__all__", []).append("A campaign needs a message in at least one language.")
    elif len(set(languages)) != len(languages):
        errors.setdefault("__all__", []).append("Each language may have one message only.")
    if errors:
        raise ValidationError(errors)


def _messages_replace(campaign: Campaign, messages: list[dict[str, str]]) -> None:
    campaign.messages.all().delete()
    CampaignMessage.objects.bulk_create(
        CampaignMessage(campaign=campaign, language=m["language"], title=m.get("title", ""), body=m["body"])
        for m in messages
    )


def _audit(actor, action: str, campaign: Campaign, changes: dict) -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=campaign,
        object_repr=f"campaign {campaign.name}"[:200],
        project=campaign.project,
        changes=changes,
    )


@transaction.atomic
def campaign_create(*, actor, project, fields: dict[str, Any], messages: list[dict[str, str]]) -> Campaign:
    """A new campaign of the project with its messages (one per language)."""
    _check(project=project, fields=fields, messages=messages)
    campaign = Campaign.objects.create(project=project, **{name: fields[name] for name in CAMPAIGN_FIELDS})
    _messages_replace(campaign, messages)
    changes = snapshot_diff({}, model_snapshot(campaign, CAMPAIGN_FIELDS))
    changes["messages"] = [None, _messages_snapshot(campaign)]
    _audit(actor, "campaign.create", campaign, changes)
    return campaign


@transaction.atomic
def campaign_update(*, actor, campaign: Campaign, fields: dict[str, Any], messages: list[dict[str, str]]) -> bool:
    """Save the campaign's settings and replace its messages; False (and no audit event) when nothing changed."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk, deleted_at__isnull=True)
    _check(project=campaign.project, fields=fields, messages=messages)
    before, messages_before = model_snapshot(campaign, CAMPAIGN_FIELDS), _messages_snapshot(campaign)
    for name in CAMPAIGN_FIELDS:
        setattr(campaign, name, fields[name])
    changes = snapshot_diff(before, model_snapshot(campaign, CAMPAIGN_FIELDS))
    messages_after = sorted([m["language"], m.get("title", ""), m["body"]] for m in messages)
    if messages_after != messages_before:
        changes["messages"] = [messages_before, messages_after]
    if not changes:
        return False
    campaign.save()
    _messages_replace(campaign, messages)
    _audit(actor, "campaign.update", campaign, changes)
    return True


@transaction.atomic
def campaign_delete(*, actor, campaign: Campaign) -> None:
    """Soft delete: the row stays so that a template_id of a deleted draft is refused saying so."""
    updated = Campaign.objects.filter(pk=campaign.pk, deleted_at__isnull=True).update(deleted_at=timezone.now())
    if updated:
        _audit(actor, "campaign.delete", campaign, {"deleted": [False, True]})


# ---- template bindings (the template picker) ---------------------------------------------------------------------


def _binding_audit(actor, action: str, binding: TemplateBinding, changes: dict) -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=binding,
        object_repr=f"template binding {binding.scenario} of {binding.connector.name}"[:200],
        project=binding.connector.project,
        changes=changes,
    )


@transaction.atomic
def template_binding_save(*, actor, connector, scenario: str, campaign: Campaign, replace: bool) -> TemplateBinding:
    """Bind the draft to the connector's scenario; a scenario already bound is rebound only when `replace` (else a
    ValidationError naming the draft it is bound to). The callers pass a draft of the connector's project."""
    if campaign.project_id != connector.project_id or campaign.is_live or campaign.is_deleted:
        raise ValidationError({"campaign": ["Only a draft of the connector's project can be bound."]})
    fingerprint = campaign_fingerprint(campaign)
    binding = (
        TemplateBinding.objects.select_for_update().select_related("campaign")
        .filter(connector=connector, scenario=scenario).first()
    )  # fmt: skip
    if binding is None:
        binding = TemplateBinding(connector=connector, scenario=scenario, campaign=campaign)
        binding.content_fingerprint = fingerprint
        binding.full_clean(exclude=["connector", "campaign"])
        try:
            with transaction.atomic():  # two first binds of a scenario at once: the second is told, not a 500
                binding.save()
        except IntegrityError:
            raise ValidationError({"scenario": [f"Scenario {scenario} was just bound: look again."]}) from None
        _binding_audit(actor, "template_binding.create", binding, {"template_id": [None, campaign.token]})
        return binding
    if not replace:
        message = f"Scenario {scenario} is already bound to {binding.campaign.name}: tick “Replace an existing binding”"
        raise ValidationError({"scenario": [message]})
    before = binding.campaign.token
    binding.campaign, binding.content_fingerprint = campaign, fingerprint
    binding.save()
    _binding_audit(actor, "template_binding.rebind", binding, {"template_id": [before, campaign.token]})
    return binding


@transaction.atomic
def template_binding_delete(*, actor, binding: TemplateBinding) -> None:
    _binding_audit(actor, "template_binding.delete", binding, {"template_id": [binding.campaign.token, None]})
    binding.delete()
