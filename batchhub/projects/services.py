"""Writes on projects, apps, keys and partner grants; every one is audited."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from batchhub.accounts.models import Partner
from batchhub.core.crypto import Secret
from batchhub.core.services import SECRET_CHANGED, audit_record, model_snapshot, snapshot_diff
from batchhub.projects.models import App, Project, ProjectGrant, new_rest_api_key


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


def _rest_key_rotate(*, actor, obj, project: Project) -> Secret:
    """Give a project or app a new REST key; the old one stops working at once. Returns the new key."""
    obj.rest_api_key = Secret(new_rest_api_key())
    obj.save(update_fields=["rest_api_key", "updated_at"])
    audit_record(
        actor=actor,
        action=f"{obj._meta.model_name}.rest_key_rotate",
        obj=obj,
        project=project,
        changes={"rest_api_key": [SECRET_CHANGED, SECRET_CHANGED]},
    )
    return obj.rest_api_key


@transaction.atomic
def project_create(*, actor, name: str, customer: str, inactivity_months: int = 13) -> Project:
    """Create a project with fresh keys."""
    project = Project(name=name, customer=customer, slug=_unique_slug(name), inactivity_months=inactivity_months)
    return _create_audited(
        actor=actor, obj=project, project=project, fields=["name", "customer", "slug", "inactivity_months"]
    )


@transaction.atomic
def project_update(*, actor, project: Project, name: str, customer: str) -> Project:
    before = model_snapshot(project, ["name", "customer"])
    project.name, project.customer = name, customer
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
                    f"The inactivity period can only be shortened: it is {project.inactivity_months} months, "
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
def project_rest_key_rotate(*, actor, project: Project) -> Secret:
    return _rest_key_rotate(actor=actor, obj=project, project=project)


@transaction.atomic
def app_create(*, actor, project: Project, name: str, platform: str) -> App:
    """Add an app with fresh keys to a project."""
    app = App(project=project, name=name, platform=platform)
    return _create_audited(
        actor=actor, obj=app, project=project, fields=["name", "platform", "live_api_key", "dev_api_key"]
    )


@transaction.atomic
def app_rest_key_rotate(*, actor, app: App) -> Secret:
    return _rest_key_rotate(actor=actor, obj=app, project=app.project)


@transaction.atomic
def project_grant_partner(*, actor, project: Project, partner: Partner) -> ProjectGrant:
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
    return grant


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
