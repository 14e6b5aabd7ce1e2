"""Writes on projects, apps, keys and partner grants; every one is audited."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from batchhub.accounts.models import Partner
from batchhub.core.crypto import Secret
from batchhub.core.services import SECRET_CHANGED, audit_record, model_snapshot, snapshot_diff
from batchhub.projects.models import App, Customer, Project, ProjectGrant, RestApiKey, months_text
from batchhub.projects.queries import company_rest_keys_active

DEFAULT_ROTATION_OVERLAP = dt.timedelta(hours=24)
MAX_ROTATION_OVERLAP = dt.timedelta(days=30)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:100] or "project"
    slug, n = base, 2
    while Project.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _create_audited(*, actor, obj, project: Project, fields: list[str]):
    """Validate, save and audit a new object, recording the listed fields."""
    obj.full_clean()
    obj.save()
    audit_record(
        actor=actor,
        action=f"{obj._meta.model_name}.create",
        obj=obj,
        project=project,
        changes=snapshot_diff({}, model_snapshot(obj, fields)),
    )
    return obj


def customer_for_name(name: str | Customer) -> Customer:
    """The customer company of this name (exact, trimmed), created on first use."""
    if isinstance(name, Customer):
        return name
    name = name.strip()
    if not name:
        raise ValidationError({"customer": "Name the customer company."})
    # one company whatever the case ("Acme" is "acme"); two CSMs creating it at once meet the unique constraint
    for _ in range(2):
        customer = Customer.objects.filter(name__iexact=name).first()
        if customer is not None:
            return customer
        try:
            with transaction.atomic():
                return Customer.objects.create(name=name)
        except IntegrityError:
            continue
    raise ValidationError({"customer": "That customer is being created right now; try again."})


@transaction.atomic
def project_create(*, actor, name: str, customer: str, inactivity_months: int = 13) -> tuple[Project, Secret | None]:
    """Create a project with a fresh project key; returns it with the customer's new company REST key when the
    customer had no usable one yet (to be shown once), else None."""
    company = customer_for_name(customer)
    project = Project(name=name, customer=company, slug=_unique_slug(name), inactivity_months=inactivity_months)
    _create_audited(actor=actor, obj=project, project=project, fields=["name", "customer", "slug", "inactivity_months"])
    secret = None
    if not company_rest_keys_active(company):
        _, secret = rest_key_create(actor=actor, customer=company, project=None, name="Company REST key", at=project)
    return project, secret


@transaction.atomic
def project_update(*, actor, project: Project, name: str, customer: str) -> Project:
    before = model_snapshot(project, ["name", "customer"])
    project.name, project.customer = name, customer_for_name(customer)
    project.full_clean()
    project.save(update_fields=["name", "customer", "updated_at"])
    changes = snapshot_diff(before, model_snapshot(project, ["name", "customer"]))
    if changes:
        audit_record(actor=actor, action="project.update", obj=project, project=project, changes=changes)
    return project


@transaction.atomic
def project_inactivity_shorten(*, actor, project: Project, months: int) -> Project:
    """Shorten the inactivity period; it can never grow back (profiles may already have been purged)."""
    project = Project.objects.select_for_update().get(pk=project.pk)
    if months < 1:
        raise ValidationError({"inactivity_months": "The inactivity period is at least 1 month."})
    if months >= project.inactivity_months:
        raise ValidationError(
            {
                "inactivity_months": (
                    f"The inactivity period can only be shortened: it is {months_text(project.inactivity_months)}, "
                    f"so choose fewer than {project.inactivity_months}."
                )
            }
        )
    before = project.inactivity_months
    project.inactivity_months = months
    project.save(update_fields=["inactivity_months", "updated_at"])
    audit_record(
        actor=actor,
        action="project.inactivity_shorten",
        obj=project,
        project=project,
        changes={"inactivity_months": [before, months]},
    )
    return project


@transaction.atomic
def app_create(*, actor, project: Project, name: str, platform: str) -> App:
    """Add an app with fresh keys to a project."""
    app = App(project=project, name=name, platform=platform)
    return _create_audited(
        actor=actor,
        obj=app,
        project=project,
        fields=["name", "platform", "live_api_key", "dev_api_key", "sdk_api_key"],
    )


# ---- REST API keys of a customer -------------------------------------------------------------------------


def _key_audit(*, actor, action: str, key: RestApiKey, at: Project | None, changes: dict) -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=key,
        object_repr=f"{key.name} of {key.customer.name} ({key.scope_label})",
        project=at or key.project,
        changes=changes,
    )


@transaction.atomic
def rest_key_create(
    *, actor, customer: Customer, project: Project | None, name: str, at: Project | None = None
) -> tuple[RestApiKey, Secret]:
    """A new REST key of `customer`, for all its projects or only `project`; returns it with its secret (shown
    once). `at` is the project page it was made from, for the audit log."""
    if project is not None and project.customer_id != customer.pk:
        raise ValidationError({"project": "A key can only be narrowed to a project of its own customer."})
    key = RestApiKey(
        customer=customer,
        project=project,
        name=name.strip()[:80] or "REST key",
        created_by=actor if actor and actor.is_authenticated else None,
    )
    key.save()
    _key_audit(
        actor=actor,
        action="restapikey.create",
        key=key,
        at=at,
        changes={"name": [None, key.name], "scope": [None, key.scope_label], "secret": [None, SECRET_CHANGED]},
    )
    return key, key.secret


@transaction.atomic
def rest_key_rotate(*, actor, key: RestApiKey, overlap: dt.timedelta, at: Project | None = None) -> Secret:
    """Replace a key with a new one of the same scope; the old one keeps working for `overlap` (zero: revoked
    now). Returns the new secret (shown once)."""
    if overlap < dt.timedelta(0) or overlap > MAX_ROTATION_OVERLAP:
        raise ValidationError({"overlap_hours": f"The overlap is 0 to {MAX_ROTATION_OVERLAP.days * 24} hours."})
    key = RestApiKey.objects.select_for_update().get(pk=key.pk)
    now = timezone.now()
    if not key.is_active_at(now):
        raise ValidationError({"key": "This key no longer works: create a new one instead."})
    if key.rotated_to_id is not None:  # a second rotation would extend the old key's life and mint a second heir
        raise ValidationError({"key": "This key was already rotated; revoke it now if it must stop before its end."})
    new_key = RestApiKey(
        customer_id=key.customer_id,
        project_id=key.project_id,
        app_id=key.app_id,
        name=key.name,
        created_by=actor if actor and actor.is_authenticated else None,
    )
    new_key.save()
    key.rotated_to = new_key
    if overlap:
        key.expires_at = now + overlap
    else:
        key.revoked_at = now
    key.save(update_fields=["rotated_to", "expires_at", "revoked_at"])
    _key_audit(
        actor=actor,
        action="restapikey.rotate",
        key=key,
        at=at,
        changes={
            "secret": [SECRET_CHANGED, SECRET_CHANGED],
            "old key works until": [None, (key.expires_at or now).isoformat(timespec="minutes")],
        },
    )
    return new_key.secret


@transaction.atomic
def rest_key_revoke(*, actor, key: RestApiKey, at: Project | None = None) -> bool:
    """Stop a key at once; False if it had already stopped."""
    key = RestApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is not None:
        return False
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])  # its post_save makes every web process forget the key
    _key_audit(actor=actor, action="restapikey.revoke", key=key, at=at, changes={"revoked": [False, True]})
    return True


@transaction.atomic
def project_grant_partner(*, actor, project: Project, partner: Partner) -> tuple[ProjectGrant, bool]:
    """Give a partner access to a project; returns the grant and whether it is new (a second grant is a no-op)."""
    grant, created = ProjectGrant.objects.get_or_create(
        project=project,
        partner=partner,
        defaults={"granted_by": actor if actor and actor.is_authenticated else None},
    )
    if created:
        audit_record(
            actor=actor,
            action="project.grant",
            obj=grant,
            object_repr=str(grant),
            project=project,
            changes={"partner": [None, partner.name]},
        )
    return grant, created


@transaction.atomic
def project_revoke_partner(*, actor, project: Project, partner: Partner) -> bool:
    deleted, _ = ProjectGrant.objects.filter(project=project, partner=partner).delete()
    if deleted:
        audit_record(
            actor=actor,
            action="project.revoke",
            object_type="projects.projectgrant",
            object_code=str(partner.code),
            object_repr=f"{partner} → {project}",
            project=project,
            changes={"partner": [partner.name, None]},
        )
    return bool(deleted)
