"""Roles are Django groups; these helpers are the one place that reads them."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404

CSM = "csm"
PARTNER = "partner"
PRIVACY_ADMIN = "privacy_admin"
ALL_ROLES = (CSM, PARTNER, PRIVACY_ADMIN)
ROLE_LABELS = {CSM: "Customer success", PARTNER: "Partner", PRIVACY_ADMIN: "Privacy admin"}


def user_roles(user) -> frozenset[str]:
    """The user's roles, read once per request; a superuser counts as CSM and privacy admin."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_batchhub_roles", None)
    if cached is None:
        cached = roles_remember(user, user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))
    return cached


def roles_remember(user, group_names) -> frozenset[str]:
    """Attach the user's roles, computed from its group names, for the rest of the request."""
    names = set(group_names) & set(ALL_ROLES)
    if user.is_superuser:
        names |= {CSM, PRIVACY_ADMIN}
    user._batchhub_roles = frozenset(names)
    return user._batchhub_roles


def has_role(user, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))


def primary_role(user) -> str | None:
    roles = user_roles(user)
    for role in (CSM, PRIVACY_ADMIN, PARTNER):
        if role in roles:
            return role
    return None


def role_required(*roles: str) -> Callable:
    """Login required, then one of `roles`; others get a 404 so that a page's existence does not leak."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not has_role(request.user, *roles):
                raise Http404("No such page")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
