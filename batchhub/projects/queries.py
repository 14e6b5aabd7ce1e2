"""Reads of projects, scoped to the user: the only way views reach a project."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from batchhub.accounts.models import Partner
from batchhub.core.queries import get_by_code_or_404
from batchhub.core.roles import CSM, PARTNER, PRIVACY_ADMIN, has_role
from batchhub.projects.models import App, Customer, Project, ProjectGrant, RestApiKey


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


def projects_count_for_user(user) -> int:
    return projects_for_user(user).count()


def apps_count_for_user(user) -> int:
    """The apps of the projects the user may see."""
    return App.objects.filter(project__in=projects_for_user(user)).count()


def apps_by_project(projects) -> dict[int, list[App]]:
    """The apps of these projects (already obtained through a scoped query), by project id, in platform order: one
    query for the lot."""
    apps: dict[int, list[App]] = {project.pk: [] for project in projects}
    for app in App.objects.filter(project__in=list(apps)).order_by("platform", "name"):
        apps[app.project_id].append(app)
    return apps


def projects_search(user, *, query: str = "") -> QuerySet[Project]:
    """The list rows of the user's projects whose name or customer's name contains `query` (any case)."""
    projects = project_list_rows(user)
    query = query.strip()
    if query:
        projects = projects.filter(Q(name__icontains=query) | Q(customer__name__icontains=query))
    return projects


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
