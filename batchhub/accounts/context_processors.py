from __future__ import annotations

from batchhub.core.roles import CSM, PARTNER, PRIVACY_ADMIN, user_roles


def navigation(request) -> dict:
    """What the top navigation shows: links depend on the user's roles."""
    user = getattr(request, "user", None)
    roles = user_roles(user) if user is not None else frozenset()
    return {
        "nav_is_csm": CSM in roles,
        "nav_is_partner": PARTNER in roles,
        "nav_is_privacy_admin": PRIVACY_ADMIN in roles,
    }
