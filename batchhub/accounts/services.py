"""Writes on people and partner organisations."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction

from batchhub.accounts.models import Partner, User
from batchhub.core.audit.record import audit_record
from batchhub.core.roles import ALL_ROLES, PARTNER


def role_groups_ensure() -> dict[str, Group]:
    return {name: Group.objects.get_or_create(name=name)[0] for name in ALL_ROLES}


@transaction.atomic
def user_create(
    *,
    actor=None,
    username: str,
    password: str,
    role: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    partner: Partner | None = None,
) -> User:
    """Create a dashboard user with one role; a partner user must name its Partner, others must not."""
    if role not in ALL_ROLES:
        raise ValidationError({"role": f"Unknown role {role!r}; expected one of {', '.join(ALL_ROLES)}."})
    if (role == PARTNER) != (partner is not None):
        raise ValidationError({"partner": "A partner user belongs to exactly one partner; other roles to none."})
    user = User.objects.create_user(
        username=username,
        password=password,
        email=email,
        first_name=first_name,
        last_name=last_name,
        partner=partner,
    )
    user.groups.add(role_groups_ensure()[role])
    audit_record(
        actor=actor,
        action="user.create",
        obj=user,
        changes={"role": [None, role], "partner": [None, str(partner or "")]},
    )
    return user


@transaction.atomic
def partner_create(*, actor=None, name: str, kind: str, website: str = "") -> Partner:
    partner = Partner(name=name, kind=kind, website=website)
    partner.full_clean()
    partner.save()
    audit_record(
        actor=actor, action="partner.create", obj=partner, changes={"name": [None, name], "kind": [None, kind]}
    )
    return partner
