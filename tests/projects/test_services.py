"""projects.services called directly: customers, projects, apps, REST keys, partner grants, deletions."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from batchhub.core.audit.record import SECRET_CHANGED
from batchhub.core.models import AuditEvent
from batchhub.profiles.models import Profile, ProfileEvent
from batchhub.projects.models import App, Customer, Project, ProjectGrant, RestApiKey
from batchhub.projects.services import (
    app_create,
    customer_delete_continue,
    customer_delete_request,
    customer_for_name,
    deletion_plan_for,
    deletion_rows_count,
    project_create,
    project_delete_continue,
    project_delete_request,
    project_grant_partner,
    project_inactivity_apply,
    project_inactivity_cancel,
    project_inactivity_shorten,
    project_revoke_partner,
    project_update,
    rest_key_create,
    rest_key_revoke,
    rest_key_rotate,
)
from tests.factories import (
    AppFactory,
    CustomerFactory,
    PartnerFactory,
    ProfileEventFactory,
    ProfileFactory,
    ProjectFactory,
    RestApiKeyFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


# ---- customers and projects -----------------------------------------------------------------------------------


def test_customer_for_name_finds_the_company_whatever_the_case_and_creates_it_once():
    acme = customer_for_name("  Acme Corp ")
    assert acme.name == "Acme Corp"
    assert customer_for_name("ACME CORP") == acme
    assert customer_for_name(acme) is acme
    assert Customer.objects.count() == 1


def test_customer_for_name_refuses_a_blank_name_and_a_company_being_deleted():
    with pytest.raises(ValidationError, match="Name the customer company"):
        customer_for_name("   ")
    CustomerFactory(name="Globex", deleting_since=timezone.now())
    with pytest.raises(ValidationError, match="Globex is being deleted"):
        customer_for_name("globex")


def test_project_create_gives_a_free_slug_and_the_first_company_key_once(csm):
    first, first_secret = project_create(actor=csm, name="Acme Retail", customer="Acme")
    second, second_secret = project_create(actor=csm, name="Acme Retail", customer="acme")

    assert (first.slug, second.slug) == ("acme-retail", "acme-retail-2")
    assert first.customer == second.customer
    key = RestApiKey.objects.get(customer=first.customer)
    assert key.project is None and first_secret is not None and key.secret.matches(first_secret.reveal())
    assert second_secret is None  # the company already had a working key
    created = AuditEvent.objects.filter(action="project.create").order_by("id")
    assert [event.project_code for event in created] == [first.code, second.code]
    assert created[0].changes["name"] == [None, "Acme Retail"]


def test_project_create_refuses_an_inactivity_period_over_13_months(csm):
    with pytest.raises(ValidationError) as raised:
        project_create(actor=csm, name="Too long", customer="Acme", inactivity_months=14)
    assert "inactivity_months" in raised.value.message_dict
    assert not Project.objects.exists()


def test_project_update_audits_nothing_when_nothing_changes(csm):
    project = ProjectFactory(name="Acme Retail", customer="Acme")
    project_update(actor=csm, project=project, name="Acme Retail", customer="ACME")
    assert not AuditEvent.objects.filter(action="project.update").exists()
    acme = project.customer
    project_update(actor=csm, project=project, name="Acme Retail", customer="Globex")
    project.refresh_from_db()
    assert project.customer.name == "Globex"
    assert AuditEvent.objects.get(action="project.update").changes == {"customer": [acme.pk, project.customer.pk]}


def test_a_shorter_period_waits_for_the_next_purge_run_and_only_shortens(csm):
    project = ProjectFactory(inactivity_months=10)
    project_inactivity_shorten(actor=csm, project=project, months=6, deleted_at_next_run=42)
    project.refresh_from_db()
    assert (project.inactivity_months, project.inactivity_months_next) == (10, 6)
    assert project.inactivity_months_in_force == 6
    assert AuditEvent.objects.get(action="project.inactivity_shorten").changes == {
        "inactivity_months": [10, 6],
        "takes_effect": [None, "at the next purge run"],
        "profiles_deleted_at_next_run": [None, 42],
    }

    for months in (6, 8, 0):  # not shorter than the waiting period, or out of bounds
        with pytest.raises(ValidationError):
            project_inactivity_shorten(actor=csm, project=project, months=months, deleted_at_next_run=0)
    project_inactivity_shorten(actor=csm, project=project, months=4, deleted_at_next_run=50)
    project.refresh_from_db()
    assert (project.inactivity_months, project.inactivity_months_next) == (10, 4)

    assert project_inactivity_apply(project.pk) == 4
    project.refresh_from_db()
    assert (project.inactivity_months, project.inactivity_months_next) == (4, None)
    assert AuditEvent.objects.get(action="project.inactivity_applied").changes == {"inactivity_months": [10, 4]}
    assert project_inactivity_apply(project.pk) == 4  # nothing waiting: nothing changes
    assert AuditEvent.objects.filter(action="project.inactivity_applied").count() == 1


def test_a_waiting_shorter_period_can_be_cancelled(csm):
    project = ProjectFactory()
    project_inactivity_shorten(actor=csm, project=project, months=3, deleted_at_next_run=7)
    project_inactivity_cancel(actor=csm, project=project)
    project.refresh_from_db()
    assert (project.inactivity_months, project.inactivity_months_next) == (13, None)
    assert AuditEvent.objects.get(action="project.inactivity_cancel").changes == {"inactivity_months": [3, 13]}
    project_inactivity_cancel(actor=csm, project=project)  # nothing waiting: no second entry
    assert AuditEvent.objects.filter(action="project.inactivity_cancel").count() == 1


def test_the_database_refuses_a_waiting_period_that_is_not_shorter():
    project = ProjectFactory(inactivity_months=6)
    with pytest.raises(IntegrityError), transaction.atomic():
        Project.objects.filter(pk=project.pk).update(inactivity_months_next=6)


def test_app_create_gives_fresh_keys_and_refuses_a_second_app_of_the_same_name_and_platform(csm):
    project = ProjectFactory()
    app = app_create(actor=csm, project=project, name="Shop", platform=App.Platform.WEB)
    other = app_create(actor=csm, project=project, name="Shop", platform=App.Platform.IOS)
    assert len({app.live_api_key, app.dev_api_key, app.sdk_api_key, other.live_api_key}) == 4
    assert AuditEvent.objects.filter(action="app.create", project_code=project.code).count() == 2

    with pytest.raises(ValidationError):
        app_create(actor=csm, project=project, name="Shop", platform=App.Platform.WEB)
    with pytest.raises(ValidationError) as unknown:
        app_create(actor=csm, project=project, name="Shop", platform="blackberry")
    assert "platform" in unknown.value.message_dict
    assert project.apps.count() == 2


# ---- REST keys --------------------------------------------------------------------------------------------------


def test_rest_key_create_returns_the_secret_once_and_audits_only_that_it_exists(csm):
    project = ProjectFactory()
    key, secret = rest_key_create(actor=csm, customer=project.customer, project=project, name="  ")
    assert key.name == "REST key" and key.project == project and key.created_by == csm
    assert RestApiKey.objects.get(pk=key.pk).secret.matches(secret.reveal())
    event = AuditEvent.objects.get(action="restapikey.create")
    assert event.changes["secret"] == [None, SECRET_CHANGED]
    assert secret.reveal() not in str(event.changes)


def test_a_key_can_only_be_narrowed_to_a_project_of_its_own_customer(csm):
    other_customers_project = ProjectFactory()
    with pytest.raises(ValidationError, match="of its own customer"):
        rest_key_create(actor=csm, customer=CustomerFactory(), project=other_customers_project, name="k")
    assert not RestApiKey.objects.exists()


def test_a_rotated_key_works_through_the_overlap_and_its_heir_has_the_same_scope(csm):
    project = ProjectFactory()
    key = RestApiKeyFactory(customer=project.customer, project=project)
    before = timezone.now()
    new_secret = rest_key_rotate(actor=csm, key=key, overlap=dt.timedelta(hours=2))

    key.refresh_from_db()
    heir = key.rotated_to
    assert heir.secret.matches(new_secret.reveal()) and not key.secret.matches(new_secret.reveal())
    assert (heir.customer, heir.project, heir.name) == (key.customer, project, key.name)
    assert key.revoked_at is None
    assert before + dt.timedelta(hours=2) <= key.expires_at <= timezone.now() + dt.timedelta(hours=2)
    assert key.is_active_at(timezone.now()) and heir.is_active_at(timezone.now() + dt.timedelta(days=1))

    with pytest.raises(ValidationError, match="already rotated"):
        rest_key_rotate(actor=csm, key=key, overlap=dt.timedelta(hours=1))


def test_a_rotation_without_overlap_stops_the_old_key_at_once(csm):
    key = RestApiKeyFactory()
    rest_key_rotate(actor=csm, key=key, overlap=dt.timedelta(0))
    key.refresh_from_db()
    assert key.revoked_at is not None and not key.is_active_at(timezone.now())


@pytest.mark.parametrize("overlap", [dt.timedelta(hours=-1), dt.timedelta(days=31)])
def test_a_rotation_overlap_is_0_to_30_days(csm, overlap):
    key = RestApiKeyFactory()
    with pytest.raises(ValidationError, match="overlap"):
        rest_key_rotate(actor=csm, key=key, overlap=overlap)
    key.refresh_from_db()
    assert key.rotated_to is None and RestApiKey.objects.count() == 1


def test_a_revoked_key_is_revoked_once_and_cannot_be_rotated(csm):
    key = RestApiKeyFactory()
    assert rest_key_revoke(actor=csm, key=key) is True
    assert rest_key_revoke(actor=csm, key=key) is False
    assert AuditEvent.objects.filter(action="restapikey.revoke").count() == 1
    with pytest.raises(ValidationError, match="no longer works"):
        rest_key_rotate(actor=csm, key=key, overlap=dt.timedelta(hours=1))


# ---- partner grants ---------------------------------------------------------------------------------------------


def test_a_grant_is_made_and_audited_once(csm):
    project, partner = ProjectFactory(), PartnerFactory(name="Pushwave")
    grant, created = project_grant_partner(actor=csm, project=project, partner=partner)
    again, created_again = project_grant_partner(actor=csm, project=project, partner=partner)
    assert (created, created_again) == (True, False)
    assert again == grant and grant.granted_by == csm
    assert AuditEvent.objects.get(action="project.grant").changes == {"partner": [None, "Pushwave"]}


def test_revoking_a_grant_says_whether_there_was_one(csm):
    project, partner = ProjectFactory(), PartnerFactory(name="Pushwave")
    project_grant_partner(actor=csm, project=project, partner=partner)
    assert project_revoke_partner(actor=csm, project=project, partner=partner) is True
    assert project_revoke_partner(actor=csm, project=project, partner=partner) is False
    assert not ProjectGrant.objects.exists()
    assert AuditEvent.objects.get(action="project.revoke").changes == {"partner": ["Pushwave", None]}


# ---- deletions --------------------------------------------------------------------------------------------------


def _project_with_rows(profiles: int, **kwargs) -> Project:
    project = ProjectFactory(**kwargs)
    AppFactory(project=project)
    for profile in ProfileFactory.create_batch(profiles, project=project):
        ProfileEventFactory.create_batch(2, profile=profile)
    return project


def test_a_customer_deletion_plan_takes_its_projects_and_a_project_plan_stops_at_the_project():
    assert Project in deletion_plan_for(CustomerFactory())
    project_plan = deletion_plan_for(ProjectFactory())
    assert Project not in project_plan and Customer not in project_plan
    assert {App, Profile, ProfileEvent} <= set(project_plan)


def test_the_rows_count_is_per_table_largest_first():
    project = _project_with_rows(3)
    _project_with_rows(5)  # another project's rows are not counted
    tables = deletion_rows_count(project)
    counts = {table.label: table.rows for table in tables}
    assert counts["profiles.profileevent"] == 6 and counts["profiles.profile"] == 3 and counts["projects.app"] == 1
    assert [table.rows for table in tables] == sorted((table.rows for table in tables), reverse=True)
    assert tables[0].name == "profile events"


def test_a_project_deletion_goes_on_until_done_and_only_when_asked_for(csm):
    project, other = _project_with_rows(3), _project_with_rows(2)
    assert project_delete_continue(project_id=project.pk, seconds=60) is True  # not asked for: nothing goes
    assert Profile.objects.filter(project=project).count() == 3

    project_delete_request(actor=csm, project=project)
    assert project_delete_continue(project_id=project.pk, seconds=0) is False  # out of time before a batch
    assert Profile.objects.filter(project=project).count() == 3
    assert project_delete_continue(project_id=project.pk, seconds=60) is True

    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Profile.objects.filter(project_id=project.pk).exists()
    assert Profile.objects.filter(project=other).count() == 2
    assert AuditEvent.objects.get(action="project.delete").changes["profiles.profile"] == [3, 0]


def test_a_customer_deletion_takes_its_projects_and_keys_and_nothing_else(csm):
    project = _project_with_rows(2, customer="Acme")
    sister = _project_with_rows(1, customer="Acme")
    other = _project_with_rows(1, customer="Globex")
    RestApiKeyFactory(customer=project.customer)
    assert customer_delete_continue(customer_id=project.customer_id, seconds=60) is True  # not asked for
    assert Customer.objects.filter(pk=project.customer_id).exists()

    customer_delete_request(actor=csm, customer=project.customer)
    assert customer_delete_continue(customer_id=project.customer_id, seconds=60) is True

    assert not Customer.objects.filter(name="Acme").exists()
    assert not Project.objects.filter(pk__in=[project.pk, sister.pk]).exists()
    assert not RestApiKey.objects.filter(customer_id=project.customer_id).exists()
    assert Profile.objects.filter(project=other).count() == 1
    assert AuditEvent.objects.get(action="customer.delete").changes["profiles.profile"] == [3, 0]
