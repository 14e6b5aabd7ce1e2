"""accounts.services called directly: users with one role, partners, the role groups."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from batchhub.accounts.models import Partner, User
from batchhub.accounts.services import partner_create, role_groups_ensure, user_create
from batchhub.core.models import AuditEvent
from batchhub.core.roles import ALL_ROLES, CSM, PARTNER
from tests.factories import PartnerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


def test_role_groups_ensure_makes_each_role_group_once():
    first = role_groups_ensure()
    second = role_groups_ensure()
    assert set(first) == set(ALL_ROLES)
    assert {name: group.pk for name, group in first.items()} == {name: group.pk for name, group in second.items()}
    assert Group.objects.filter(name__in=ALL_ROLES).count() == len(ALL_ROLES)


def test_user_create_gives_the_role_and_the_password_and_audits_it(csm):
    user = user_create(actor=csm, username="ana", password="a-long-passphrase", role=CSM, email="ana@example.com")

    assert list(user.groups.values_list("name", flat=True)) == [CSM]
    assert user.check_password("a-long-passphrase")
    assert user.partner is None
    event = AuditEvent.objects.get(action="user.create")
    assert (event.actor, event.object_code, event.object_repr) == (csm, str(user.pk), "ana")
    assert event.changes == {"role": [None, CSM], "partner": [None, ""]}


def test_a_partner_user_belongs_to_its_partner():
    partner = PartnerFactory(name="Pushwave")
    user = user_create(username="pw", password="a-long-passphrase", role=PARTNER, partner=partner)
    assert user.partner == partner
    assert list(user.groups.values_list("name", flat=True)) == [PARTNER]
    assert AuditEvent.objects.get(action="user.create").changes["partner"] == [None, "Pushwave"]


@pytest.mark.parametrize(
    ("role", "with_partner", "field"),
    [("admin", False, "role"), (PARTNER, False, "partner"), (CSM, True, "partner")],
)
def test_user_create_refuses_an_unknown_role_and_a_partner_that_does_not_fit(role, with_partner, field):
    partner = PartnerFactory() if with_partner else None
    with pytest.raises(ValidationError) as raised:
        user_create(username="x", password="a-long-passphrase", role=role, partner=partner)
    assert field in raised.value.message_dict
    assert not User.objects.filter(username="x").exists()
    assert not AuditEvent.objects.exists()


def test_partner_create_validates_saves_and_audits(csm):
    partner = partner_create(actor=csm, name="Attribly", kind=Partner.Kind.ANALYTICS_ATTRIBUTION)
    assert Partner.objects.get(pk=partner.pk).kind == "analytics_attribution"
    event = AuditEvent.objects.get(action="partner.create")
    assert event.actor == csm and event.object_code == str(partner.code)
    assert event.changes == {"name": [None, "Attribly"], "kind": [None, "analytics_attribution"]}


def test_partner_create_refuses_an_unknown_kind_and_a_taken_name():
    PartnerFactory(name="Pushwave")
    with pytest.raises(ValidationError) as unknown:
        partner_create(name="Newco", kind="reseller")
    assert "kind" in unknown.value.message_dict
    with pytest.raises(ValidationError) as taken:
        partner_create(name="Pushwave", kind=Partner.Kind.LOCATION)
    assert "name" in taken.value.message_dict
    assert list(Partner.objects.values_list("name", flat=True)) == ["Pushwave"]
    assert not AuditEvent.objects.exists()
