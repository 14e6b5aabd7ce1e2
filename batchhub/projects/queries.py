"""Reads of projects, scoped to the user: the only way views reach a project."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from batchhub.accounts.models import Partner
from batchhub.core.queries import get_by_code_or_404
from batchhub.core.roles import CSM, PARTNER, PRIVACY_ADMIN, has_role
from batchhub.projects.models import Customer, Project, ProjectGrant, RestApiKey


def projects_for_user(user) -> QuerySet[Project]:
    """Staff (CSM, privacy admin) see every project; a partner user only those granted to its partner. A project
    being deleted (in the background) is no longer shown."""
    live = Project.objects.filter(deleting_since__isnull=True)
    if has_role(user, CSM, PRIVACY_ADMIN):
        return live
    if has_role(user, PARTNER) and user.partner_id is not None:
        return live.filter(grants__partner_id=user.partner_id)
    return Project.objects.none()


def project_get_for_user(user, code) -> Project:
    """The project with this public code if the user may see it, else 404 (also for malformed codes)."""
    return get_by_code_or_404(projects_for_user(user), code, what="project")


def company_rest_keys_active(customer) -> list[RestApiKey]:
    """The customer's company-wide REST keys that work now, newest first."""
    now = timezone.now()
    keys = RestApiKey.objects.filter(customer=customer, project__isnull=True).order_by("-created_at", "-id")
    return [key for key in keys if key.is_active_at(now)]


def customer_names(limit: int = 500) -> list[str]:
    return list(Customer.objects.order_by("name").values_list("name", flat=True)[:limit])


def rest_keys_for_project(project: Project) -> list[RestApiKey]:
    """The customer's REST keys that open this project (company-wide or narrowed to it), newest first, with
    whether each works now."""
    keys = list(
        RestApiKey.objects.filter(customer_id=project.customer_id)
        .filter(Q(project__isnull=True) | Q(project=project))
        .select_related("project", "customer", "app", "created_by")
        .order_by("revoked_at", "-created_at")
    )
    now = timezone.now()
    for key in keys:
        key.is_active = key.is_active_at(now)
    return sorted(keys, key=lambda key: not key.is_active)


def rest_key_get_for_project(project: Project, code) -> RestApiKey:
    """A REST key that opens this project, else 404 (keys of other customers or projects cannot be reached)."""
    keys = (
        RestApiKey.objects.filter(customer_id=project.customer_id)
        .filter(Q(project__isnull=True) | Q(project=project))
        .select_related("customer", "project")
    )
    return get_by_code_or_404(keys, code, what="key")


def project_list_rows(user) -> QuerySet[Project]:
    return (
        projects_for_user(user)
        .select_related("customer")
        .annotate(app_count=Count("apps", distinct=True))
        .order_by("name")
    )


def project_grants_for_user(user, project: Project) -> QuerySet[ProjectGrant]:
    """Staff see every partner of a project; a partner user only its own organisation's grant."""
    grants = project.grants.select_related("partner", "granted_by").order_by("partner__name")
    if has_role(user, CSM, PRIVACY_ADMIN):
        return grants
    return grants.filter(partner_id=user.partner_id) if user.partner_id else grants.none()


def partners_grantable(project: Project) -> QuerySet[Partner]:
    return Partner.objects.exclude(grants__project=project).order_by("name")


def partner_get(code) -> Partner:
    return get_by_code_or_404(Partner.objects.all(), code, what="partner")
