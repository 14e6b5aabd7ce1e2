"""Deleting a project or a customer from the admin: a confirmation with counts, then batches in the background."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from batchhub.api.models import ApiCall
from batchhub.campaigns.models import Campaign, CampaignMessage, TemplateBinding, TransactionalSend
from batchhub.connectors.models import (
    Connector,
    ConnectorKey,
    Destination,
    ExportBackfill,
    ExportConfig,
    ExportRun,
    InAppEvent,
    PushEvent,
    Source,
)
from batchhub.core.models import AuditEvent
from batchhub.profiles.models import AppCustomData, Installation, Profile, ProfileEvent, PurgeRun
from batchhub.projects import services
from batchhub.projects.models import App, Customer, Project, ProjectGrant, RestApiKey
from batchhub.projects.tasks import customer_delete_run, project_delete_run
from tests.factories import (
    AppFactory,
    CampaignFactory,
    GrantFactory,
    InAppEventFactory,
    InstallationFactory,
    PartnerFactory,
    ProfileEventFactory,
    ProfileFactory,
    ProjectFactory,
    PushEventFactory,
    RestApiKeyFactory,
    UserFactory,
)

pytestmark = pytest.mark.portable


def _fill(project: Project, *, profiles: int) -> None:
    """Rows in every table that holds a project's data: 2 events and an installation per profile, and the rest."""
    apps = list(project.apps.all()) or [AppFactory(project=project)]
    now = timezone.now()
    for n in range(profiles):
        profile = ProfileFactory(project=project, custom_id=f"{project.slug}-user-{n:04d}")
        ProfileEventFactory.create_batch(2, profile=profile)
        installation = InstallationFactory(app=apps[n % len(apps)], profile=profile, custom_id=profile.custom_id)
        if n % 3 == 0:
            PushEventFactory(installation=installation)
            InAppEventFactory(installation=installation)
    for app in apps:
        AppCustomData.objects.create(app=app, custom_id=f"{project.slug}-user-0000", updated_at=now)
        ApiCall.objects.create(project=project, app=app, route="events", status_code=202, created_at=now)
    ApiCall.objects.create(project=project, route="profiles.update", status_code=202, created_at=now)
    CampaignFactory(project=project)
    CampaignFactory(project=project, app=apps[0])
    narrowed = RestApiKeyFactory(customer=project.customer, project=project)
    services.rest_key_rotate(actor=None, key=narrowed, overlap=dt.timedelta(hours=1))  # a key pointing at a key
    RestApiKeyFactory(customer=project.customer, project=project, app=apps[0])
    GrantFactory(project=project, partner=PartnerFactory())


def _census(project_id: int) -> dict[str, int]:
    """A project's rows per table, counted independently of the code under test."""
    return {
        "apps": App.objects.filter(project_id=project_id).count(),
        "profiles": Profile.objects.filter(project_id=project_id).count(),
        "profile events": ProfileEvent.objects.filter(profile__project_id=project_id).count(),
        "installations": Installation.objects.filter(app__project_id=project_id).count(),
        "app custom data": AppCustomData.objects.filter(app__project_id=project_id).count(),
        "push events": PushEvent.objects.filter(app__project_id=project_id).count(),
        "in-app events": InAppEvent.objects.filter(app__project_id=project_id).count(),
        "campaigns": Campaign.objects.filter(project_id=project_id).count(),
        "campaign messages": CampaignMessage.objects.filter(campaign__project_id=project_id).count(),
        "rest keys": RestApiKey.objects.filter(project_id=project_id).count(),
        "grants": ProjectGrant.objects.filter(project_id=project_id).count(),
        "api calls": ApiCall.objects.filter(project_id=project_id).count(),
        "project": Project.objects.filter(pk=project_id).count(),
    }


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "x" * 16)


@pytest.fixture
def filled(project, other_project):
    _fill(project, profiles=30)
    _fill(other_project, profiles=5)
    return project


def _delete_url(obj) -> str:
    return reverse(f"admin:projects_{obj._meta.model_name}_delete", args=[obj.pk])


def test_the_confirmation_counts_rows_per_table_and_lists_none(client, superuser, filled):
    client.force_login(superuser)
    response = client.get(_delete_url(filled))
    assert response.status_code == 200
    page = response.text
    tables = {table.label: table.rows for table in response.context["tables"]}
    assert tables["profiles.profile"] == 30
    assert tables["profiles.profileevent"] == 60
    assert tables["profiles.installation"] == 30
    assert tables["connectors.pushevent"] == tables["connectors.inappevent"] == 10
    assert tables["profiles.appcustomdata"] == 2  # reached through a hidden foreign key (related_name="+")
    assert tables["projects.restapikey"] == 3
    assert '<td style="text-align: right">60</td><td>Profile events' in page
    assert f"{filled.slug}-user-" not in page  # no custom id, no e-mail: no row is listed
    assert not any(str(code) in page for code in Profile.objects.values_list("code", flat=True))
    assert "deleted-objects" not in page  # Django's own list
    assert filled.deleting_since is None and _census(filled.pk)["profiles"] == 30  # looking deletes nothing

    for profile in ProfileFactory.create_batch(70, project=filled):
        ProfileEventFactory(profile=profile)
    bigger = client.get(_delete_url(filled))
    assert {table.label: table.rows for table in bigger.context["tables"]}["profiles.profile"] == 100
    assert abs(len(bigger.content) - len(response.content)) < 20  # a few digits: the page does not grow with rows
    assert len(response.content) < 25_000  # the admin's own frame (navigation sidebar) is most of it


def test_confirming_marks_the_project_and_queues_its_deletion_after_commit(
    client, superuser, filled, django_capture_on_commit_callbacks
):
    client.force_login(superuser)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(_delete_url(filled), {"post": "yes"})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:projects_project_changelist")
    filled.refresh_from_db()
    assert filled.deleting_since is not None
    assert _census(filled.pk)["profiles"] == 30  # nothing deleted in the request

    for callback in callbacks:  # the enqueue (tests run tasks eagerly), and the API credentials' cache bump
        callback()
    assert set(_census(filled.pk).values()) == {0}


def test_the_message_says_what_goes(client, superuser, filled, django_capture_on_commit_callbacks):
    client.force_login(superuser)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_delete_url(filled), {"post": "yes"}, follow=True)
    assert (
        "Project Acme Retail is being deleted in the background (60 profile events, 30 installations, 30 profiles,"
        in response.text
    )
    assert ", 2 apps, 1 project grant)." in response.text


def test_the_task_deletes_every_row_of_the_project_and_nothing_else(superuser, filled, other_project):
    others_before = _census(other_project.pk)
    company_keys = RestApiKey.objects.filter(customer=filled.customer, project__isnull=True).count()
    services.project_delete_request(actor=superuser, project=filled)

    assert project_delete_run(filled.pk) is True

    assert set(_census(filled.pk).values()) == {0}
    assert _census(other_project.pk) == others_before
    assert Customer.objects.filter(pk=filled.customer_id).exists()  # the customer and its company keys stay
    assert RestApiKey.objects.filter(customer=filled.customer, project__isnull=True).count() == company_keys


def test_running_the_task_again_is_harmless(superuser, filled, other_project):
    services.project_delete_request(actor=superuser, project=filled)
    project_delete_run(filled.pk)
    others = _census(other_project.pk)
    audited = AuditEvent.objects.count()

    assert project_delete_run(filled.pk) is True

    assert _census(other_project.pk) == others
    assert AuditEvent.objects.count() == audited


def test_the_audit_log_has_the_request_and_the_counts_deleted(superuser, filled):
    before = _census(filled.pk)
    services.project_delete_request(actor=superuser, project=filled)
    project_delete_run(filled.pk)

    request = AuditEvent.objects.get(action="project.delete_request")
    assert (request.actor, request.project_code) == (superuser, filled.code)
    assert request.changes["profiles.profile"] == [30, None]
    done = AuditEvent.objects.get(action="project.delete")
    assert done.project_code == filled.code and done.actor_label == "system"
    assert done.changes == {
        "profiles.profileevent": [before["profile events"], 0],
        "profiles.profile": [before["profiles"], 0],
        "profiles.installation": [before["installations"], 0],
        "connectors.pushevent": [before["push events"], 0],
        "connectors.inappevent": [before["in-app events"], 0],
        "api.apicall": [before["api calls"], 0],
        "projects.restapikey": [before["rest keys"], 0],
        "projects.app": [before["apps"], 0],
        "profiles.appcustomdata": [before["app custom data"], 0],
        "campaigns.campaign": [before["campaigns"], 0],
        "campaigns.campaignmessage": [before["campaign messages"], 0],
        "projects.projectgrant": [before["grants"], 0],
        "projects.project": [1, 0],
    }


def test_an_interrupted_deletion_goes_on_in_small_batches_and_counts_every_row(monkeypatch, superuser, filled):
    before = _census(filled.pk)
    services.project_delete_request(actor=superuser, project=filled)
    monkeypatch.setattr(services, "DELETE_BATCH", 7)
    real_delete, calls = services._delete_rows, []

    def dies_on_the_fifth_batch(model, ids, counts):
        assert len(ids) <= 7
        calls.append(model)
        if len(calls) == 5:
            raise RuntimeError("worker lost")
        real_delete(model, ids, counts)

    monkeypatch.setattr(services, "_delete_rows", dies_on_the_fifth_batch)
    with pytest.raises(RuntimeError):
        project_delete_run(filled.pk)
    left = sum(_census(filled.pk).values())
    assert 0 < left < sum(before.values())  # four batches committed, the fifth rolled back
    filled.refresh_from_db()
    assert sum(filled.deletion_counts.values()) == sum(before.values()) - left  # progress kept on the row

    assert project_delete_run(filled.pk) is True  # the redelivery

    assert set(_census(filled.pk).values()) == {0}
    done = AuditEvent.objects.get(action="project.delete")
    assert done.changes["profiles.profileevent"] == [before["profile events"], 0]
    assert done.changes["profiles.profile"] == [30, 0]


def test_a_row_written_after_its_table_was_emptied_goes_with_the_project(monkeypatch, superuser, filled):
    """An API call being applied may add a profile and its events meanwhile; the foreign keys must hold at commit."""
    services.project_delete_request(actor=superuser, project=filled)
    real_drain = services._drain

    def drain_then_a_late_write(root, root_id, *, deadline):
        finished = real_drain(root, root_id, deadline=deadline)
        ProfileEventFactory(profile=ProfileFactory(project_id=root_id, custom_id="late"))
        return finished

    monkeypatch.setattr(services, "_drain", drain_then_a_late_write)
    assert project_delete_run(filled.pk) is True
    assert set(_census(filled.pk).values()) == {0}
    assert AuditEvent.objects.get(action="project.delete").changes["profiles.profile"] == [31, 0]


def test_the_task_never_deletes_a_project_whose_deletion_was_not_asked_for(filled):
    assert project_delete_run(filled.pk) is True
    assert _census(filled.pk)["profiles"] == 30 and _census(filled.pk)["project"] == 1


def test_the_plan_finds_every_table_and_empties_pointing_tables_first():
    plan = list(services.deletion_plan(Project))
    assert set(plan) == {
        App, Profile, ProfileEvent, Installation, AppCustomData, PushEvent, InAppEvent,
        Campaign, CampaignMessage, RestApiKey, ProjectGrant, ApiCall, PurgeRun, Connector, ConnectorKey, Destination,
        Source,
        ExportConfig, ExportRun, ExportBackfill, TransactionalSend, TemplateBinding,
    }  # fmt: skip

    def before(first, then):
        return plan.index(first) < plan.index(then)

    assert before(ProfileEvent, Profile) and before(Installation, Profile)  # Installation.profile is SET_NULL
    assert before(PushEvent, Installation) and before(Installation, App)
    assert before(ApiCall, App)  # ApiCall.app is SET_NULL: no update of every API call
    assert before(ApiCall, Connector) and before(ConnectorKey, Connector)  # ApiCall.connector is SET_NULL too


def test_a_customer_goes_with_its_projects(
    client, superuser, filled, other_project, django_capture_on_commit_callbacks
):
    second = ProjectFactory(name="Acme Outlet", customer=filled.customer)
    _fill(second, profiles=4)
    company_key = RestApiKeyFactory(customer=filled.customer)
    others = _census(other_project.pk)
    client.force_login(superuser)

    page = client.get(_delete_url(filled.customer))
    tables = {table.label: table.rows for table in page.context["tables"]}
    assert (tables["projects.project"], tables["profiles.profile"]) == (2, 34)
    assert "user-0001" not in page.text
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_delete_url(filled.customer), {"post": "yes"}, follow=True)

    assert "Customer Acme Corp is being deleted in the background (" in response.text
    assert not Customer.objects.filter(pk=filled.customer_id).exists()
    assert not RestApiKey.objects.filter(pk=company_key.pk).exists()
    assert set(_census(filled.pk).values()) == set(_census(second.pk).values()) == {0}
    assert _census(other_project.pk) == others
    done = AuditEvent.objects.get(action="customer.delete")
    assert done.changes["projects.project"] == [2, 0] and done.changes["profiles.profile"] == [34, 0]
    assert AuditEvent.objects.filter(action="project.delete").count() == 2
    assert customer_delete_run(filled.customer_id) is True  # again: nothing left to do


def test_a_customer_being_deleted_takes_no_new_project(superuser, project):
    services.customer_delete_request(actor=superuser, customer=project.customer)
    project.refresh_from_db()
    assert project.deleting_since is not None
    with pytest.raises(ValidationError, match="is being deleted"):
        services.project_create(actor=superuser, name="Late", customer="ACME CORP")


def test_asking_twice_audits_once_and_queues_again(client, superuser, filled, django_capture_on_commit_callbacks):
    client.force_login(superuser)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(_delete_url(filled), {"post": "yes"})
    page = client.get(_delete_url(filled))
    assert "The deletion of this project started" in page.text and "Queue the deletion again" in page.text
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(_delete_url(filled), {"post": "yes"})
    assert len(callbacks) == 1
    assert AuditEvent.objects.filter(action="project.delete_request").count() == 1


def test_deleting_needs_the_delete_permission(client, filled):
    staff = UserFactory(username="viewer", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_project"))
    client.force_login(staff)
    assert client.get(_delete_url(filled)).status_code == 403
    assert client.post(_delete_url(filled), {"post": "yes"}).status_code == 403
    filled.refresh_from_db()
    assert filled.deleting_since is None


def test_deleting_needs_the_permission_on_every_kind_of_row_that_goes(client, filled):
    staff = UserFactory(username="deleter", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_project", "delete_project"]))
    client.force_login(staff)
    page = client.get(_delete_url(filled))
    assert page.status_code == 200 and "profile events" in page.context["perms_lacking"]
    assert 'name="post"' not in page.text  # no confirmation form
    assert client.post(_delete_url(filled), {"post": "yes"}).status_code == 403


def test_no_bulk_delete_action_and_no_app_delete_page(client, superuser, filled):
    client.force_login(superuser)
    for model in ("project", "customer"):
        changelist = client.get(reverse(f"admin:projects_{model}_changelist"))
        assert changelist.status_code == 200 and "delete_selected" not in changelist.text
    app = filled.apps.first()
    assert client.get(reverse("admin:projects_app_delete", args=[app.pk])).status_code == 403


def test_a_project_being_deleted_leaves_the_dashboard_and_its_keys_stop_opening_it(client, superuser, filled, csm):
    """Between the confirmation and the task's end, nobody works on a project that is going."""
    import json

    from tests.factories import company_rest_key

    key = company_rest_key(filled)
    app = filled.apps.first()
    event = json.dumps([{"id": "u", "events": [{"name": "opened"}]}])
    call = {"data": event, "content_type": "application/json", "headers": {"X-Authorization": key}}
    assert client.post(f"/1.0/{app.live_api_key}/events/users", **call).status_code == 202
    services.project_delete_request(actor=superuser, project=filled)  # the task is not run here

    assert client.post(f"/1.0/{app.live_api_key}/events/users", **call).status_code == 401
    client.force_login(csm)
    assert client.get(reverse("projects:detail", kwargs={"code": filled.code})).status_code == 404
