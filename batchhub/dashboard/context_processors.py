from __future__ import annotations

from functools import cache

from django.urls import reverse

from batchhub.core.roles import CSM, PARTNER, PRIVACY_ADMIN, ROLE_LABELS, primary_role, user_roles


@cache
def _urls() -> dict[str, str]:
    # The same on every request: reversed once per process.
    return {
        "home": reverse("dashboard:home"),
        "projects": reverse("projects:list"),
        "connectors": reverse("connectors:list"),
        "campaigns": reverse("campaigns:index"),
        "audit": reverse("core:audit_log"),
        "retention": reverse("core:retention"),
        "admin": reverse("admin:index"),
        "logout": reverse("accounts:logout"),
    }


def navigation(request) -> dict:
    """What the top navigation shows: links depend on the user's roles, one is marked current.

    It names the sections of every app, so it lives in the top layer (dashboard), not in accounts."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    roles = user_roles(user)
    urls = _urls()
    match = request.resolver_match
    section = ""
    if match is not None:
        section = {
            "projects": "projects",
            "profiles": "projects",
            "api_calls": "projects",
            "core": "audit",
            "connectors": "connectors",
            "campaigns": "campaigns",
        }.get(match.app_name, "")
        if match.view_name.startswith("core:retention"):
            section = "retention"
        if match.view_name == "dashboard:home":
            section = "home"
    items = [("home", "Home"), ("projects", "Projects")]
    if roles:
        items.append(("connectors", "Connectors"))
    if roles & {CSM, PARTNER}:
        items.append(("campaigns", "Campaigns"))
    if roles & {CSM, PRIVACY_ADMIN}:
        items.append(("audit", "Audit log"))
    if CSM in roles:
        items.append(("retention", "Retention"))
    if user.is_staff:
        items.append(("admin", "Admin"))
    role = primary_role(user)
    return {
        "nav_items": [(label, urls[key], key == section) for key, label in items],
        "nav_logout_url": urls["logout"],
        "nav_role": role or "none",
        "nav_role_label": ROLE_LABELS.get(role or "", "No role"),
        "nav_is_csm": CSM in roles,
        "nav_is_partner": PARTNER in roles,
        "nav_is_privacy_admin": PRIVACY_ADMIN in roles,
    }
