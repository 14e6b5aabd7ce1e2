"""Authentication backend that loads a user's roles in the same query as the user."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.db.models import Exists, OuterRef

from batchhub.accounts.models import User
from batchhub.core.roles import ALL_ROLES, roles_remember


def _role_flags() -> dict[str, Exists]:
    memberships = User.groups.through.objects
    return {
        f"is_role_{name}": Exists(memberships.filter(user_id=OuterRef("pk"), group__name=name)) for name in ALL_ROLES
    }


class RoleAwareModelBackend(ModelBackend):
    """Django's model backend; the per-request user load also answers "which roles?" (one query, not two)."""

    def get_user(self, user_id):
        try:
            user = User._default_manager.annotate(**_role_flags()).get(pk=user_id)
        except User.DoesNotExist:
            return None
        if not self.user_can_authenticate(user):
            return None
        roles_remember(user, [name for name in ALL_ROLES if getattr(user, f"is_role_{name}")])
        return user
