"""Connector screens through their views: a partner configures its connectors on granted projects, a CSM sees and
pauses them, destinations and sources are saved with write-only credentials and tested with classified errors."""

from __future__ import annotations

import socket

import pytest
from django.urls import reverse

from batchhub.api.models import ApiCall
from batchhub.connectors.models import Connector, Destination, Source
from batchhub.core.models import AuditEvent
from tests.factories import ConnectorFactory, DestinationFactory, GrantFactory, PartnerFactory

pytestmark = pytest.mark.portable


@pytest.fixture
def storage_root(settings, tmp_path):
    settings.STORAGE_LOCAL_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def tested(client, django_capture_on_commit_callbacks):
    """Press Test as htmx does: the POST asks a worker (run in-process here), then the poll shows the result."""

    def press(direction: str, connector, location) -> str:
        url = reverse(f"connectors:{direction}_test", args=[connector.code, location.code])
        with django_capture_on_commit_callbacks(execute=True):
            asked = client.post(url, headers={"HX-Request": "true"})
        assert asked.status_code == 200 and 'data-outcome="running"' in asked.text and 'hx-trigger="load' in asked.text
        polled = client.get(url, headers={"HX-Request": "true"})
        assert polled.status_code == 200 and 'data-outcome="running"' not in polled.text
        return polled.text

    return press


@pytest.fixture
def connector(project, partner):
    return ConnectorFactory(project=project, partner=partner, name="CRM sync")


def test_a_partner_creates_a_connector_on_a_granted_project_only(client, partner_user, project, other_project):
    client.force_login(partner_user)
    page = client.get(reverse("connectors:create"))
    assert project.name in page.text and other_project.name not in page.text
    response = client.post(
        reverse("connectors:create"),
        {"project": str(project.code), "name": "CRM sync", "kind": "cdp_dmp", "features": ["custom_data", "gdpr"]},
    )
    connector = Connector.objects.get(name="CRM sync")
    assert response.status_code == 302 and response["Location"] == reverse("connectors:detail", args=[connector.code])
    assert connector.partner == partner_user.partner and connector.features == ["custom_data", "gdpr"]
    assert AuditEvent.objects.filter(action="connector.create", object_code=str(connector.code)).exists()
    refused = client.post(
        reverse("connectors:create"), {"project": str(other_project.code), "name": "Sneaky", "kind": "cdp_dmp"}
    )
    assert refused.status_code == 400 and not Connector.objects.filter(name="Sneaky").exists()


def test_a_duplicate_name_or_an_unknown_feature_is_a_form_error(client, partner_user, project, connector):
    client.force_login(partner_user)
    url = reverse("connectors:create")
    response = client.post(url, {"project": str(project.code), "name": "CRM sync", "kind": "cdp_dmp"})
    assert response.status_code == 400 and "already have a connector of this name" in response.text
    response = client.post(url, {"project": str(project.code), "name": "X", "kind": "cdp_dmp", "features": ["nope"]})
    assert response.status_code == 400 and Connector.objects.count() == 1


def test_the_key_is_revealed_once_then_masked(client, partner_user, connector):
    client.force_login(partner_user)
    client.post(reverse("connectors:key_create", args=[connector.code]), {"name": "production"})
    secret = connector.keys.get().secret.reveal()
    first = client.get(reverse("connectors:detail", args=[connector.code]))
    assert secret in first.text
    second = client.get(reverse("connectors:detail", args=[connector.code]))
    assert secret not in second.text and secret[-4:] in second.text
    assert "no-store" in second["Cache-Control"]


def test_a_csm_pauses_any_connector_but_configures_none(client, csm, connector):
    client.force_login(csm)
    page = client.get(reverse("connectors:detail", args=[connector.code]))
    assert "Pause" in page.text and reverse("connectors:edit", args=[connector.code]) not in page.text
    client.post(reverse("connectors:pause", args=[connector.code]), {"reason": "flooding"})
    connector.refresh_from_db()
    assert connector.status == "paused" and connector.paused_reason == "flooding"
    assert client.post(reverse("connectors:key_create", args=[connector.code]), {"name": "x"}).status_code == 404
    assert not connector.keys.exists()


def test_a_privacy_admin_sees_the_summary_not_the_keys_or_calls(client, privacy_admin, connector):
    key = connector.keys.create(name="production")
    client.force_login(privacy_admin)
    listing = client.get(reverse("connectors:list"))
    assert connector.name in listing.text
    page = client.get(reverse("connectors:detail", args=[connector.code]))
    assert page.status_code == 200 and connector.name in page.text
    assert key.secret.reveal()[-4:] not in page.text and "API activity" not in page.text


def test_partners_see_only_their_own_connectors_calls(client, project, partner, partner_user, connector):
    rival = PartnerFactory(name="Competitor Inc")
    GrantFactory(project=project, partner=rival)
    rival_connector = ConnectorFactory(project=project, partner=rival, name="Rival sync")
    from django.utils import timezone

    for owner, route in ((connector, "custom_data.user"), (rival_connector, "events.bulk"), (None, "events.user")):
        ApiCall.objects.create(
            project=project, connector=owner, route=route, status_code=400, error_code="MALFORMED_PARAMETER",
            error_message=f"bad call of {owner or 'the customer'}", created_at=timezone.now(),
        )  # fmt: skip
    client.force_login(partner_user)
    panel = client.get(reverse("api_calls:activity", args=[project.code]))
    assert "custom_data.user" in panel.text
    assert "events.bulk" not in panel.text and "events.user" not in panel.text
    own = client.get(reverse("connectors:detail", args=[connector.code]))
    assert "custom_data.user" in own.text and "events.bulk" not in own.text
    assert client.get(reverse("connectors:detail", args=[rival_connector.code])).status_code == 404
    customer_call = ApiCall.objects.get(route="events.user")
    customer_call.token = __import__("uuid").uuid4()
    customer_call.save()
    url = reverse("api_calls:detail", kwargs={"code": project.code, "token": customer_call.token})
    assert client.get(url).status_code == 404


def test_the_partner_home_lists_its_connectors_first(client, partner_user, connector):
    client.force_login(partner_user)
    page = client.get(reverse("dashboard:home")).text
    assert "Your connectors" in page and connector.name in page
    assert page.index("Your connectors") < page.index("Projects granted to you")


def test_deleting_a_connector_stops_its_keys_and_keeps_its_calls(client, partner_user, connector, project):
    from django.utils import timezone

    call = ApiCall.objects.create(project=project, connector=connector, route="x", status_code=202,
                                  created_at=timezone.now())  # fmt: skip
    client.force_login(partner_user)
    assert client.get(reverse("connectors:delete", args=[connector.code])).status_code == 200
    response = client.post(reverse("connectors:delete", args=[connector.code]))
    assert response.status_code == 302 and not Connector.objects.exists()
    call.refresh_from_db()
    assert call.connector_id is None


# ---- destinations and sources ---------------------------------------------------------------------------


def test_a_local_destination_is_saved_and_its_test_writes_reads_and_deletes_a_probe(
    client, partner_user, connector, storage_root, tested
):
    client.force_login(partner_user)
    response = client.post(
        reverse("connectors:destination_create", args=[connector.code]),
        {"kind": "local", "name": "Local", "path": "daily"},
    )
    destination = Destination.objects.get()
    assert response.status_code == 302
    result = tested("destination", connector, destination)
    assert 'data-outcome="ok"' in result
    folder = storage_root / "exports" / "pushwave" / "daily"  # inside the partner's own folder
    assert folder.is_dir()
    assert list(folder.iterdir()) == []  # the probe was deleted
    destination.refresh_from_db()
    assert destination.last_test_ok is True and destination.last_success_at is not None


def test_a_source_test_lists_what_its_pattern_matches(client, partner_user, connector, storage_root, tested):
    folder = storage_root / "imports" / "pushwave"
    folder.mkdir(parents=True)
    (folder / "vip.csv").write_text("id\n1\n")
    (folder / "notes.txt").write_text("x")
    client.force_login(partner_user)
    client.post(
        reverse("connectors:source_create", args=[connector.code]),
        {"kind": "local", "name": "Drop folder", "path": "", "pattern": "*.csv"},
    )
    source = Source.objects.get()
    result = tested("source", connector, source)
    assert "vip.csv" in result and "notes.txt" not in result


def test_a_failed_test_shows_the_classified_error(client, partner_user, connector, storage_root, tested,
                                                  django_capture_on_commit_callbacks):  # fmt: skip
    with socket.socket() as closed:  # a port nobody listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client.force_login(partner_user)
    client.post(
        reverse("connectors:destination_create", args=[connector.code]),
        {"kind": "sftp", "name": "Partner SFTP", "host": "127.0.0.1", "port": port, "username": "batch",
         "host_key": "SHA256:" + "A" * 43, "password": "s3cret-pass"},
    )  # fmt: skip
    destination = Destination.objects.get()
    result = tested("destination", connector, destination)
    assert 'data-outcome="transient"' in result and "temporary problem" in result
    with django_capture_on_commit_callbacks(execute=True):
        plain = client.post(reverse("connectors:destination_test", args=[connector.code, destination.code]))
    assert plain.status_code == 302  # without JavaScript: back to the form, which shows the Test's state
    assert "Test failed" in client.get(plain["Location"]).text


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"kind": "local", "path": "../../etc"}, "inside the configured folder"),
        ({"kind": "local", "path": "/etc"}, "relative to the storage root"),
        (
            {
                "kind": "s3",
                "bucket": "ok-bucket",
                "endpoint_url": "http://169.254.169.254/",
                "access_key_id": "a",
                "secret_access_key": "b",
            },
            "private or internal",
        ),
        (
            {"kind": "sftp", "host": "10.0.0.1", "username": "u", "host_key": "k", "password": "p"},
            "private or internal",
        ),
        ({"kind": "ftp", "host": "evil.example/x", "username": "u", "password": "p"}, "host name or an IP"),
        ({"kind": "s3", "bucket": "Bad_Bucket!", "access_key_id": "a", "secret_access_key": "b"}, "Bucket names"),
        ({"kind": "gcs", "bucket": "ok-bucket", "service_account_json": "{not json"}, "whole JSON key file"),
        (
            {"kind": "sftp", "host": "sftp.example.com", "username": "u", "host_key": "SHA256:" + "A" * 43},
            "password or a private key",
        ),
        (
            {"kind": "sftp", "host": "sftp.example.com", "username": "u", "host_key": "not a key", "password": "p"},
            "host key",
        ),
        ({"kind": "local", "path": "exports/a\\x00b"}, "Null characters are not allowed"),
    ],
)
def test_bad_storage_settings_are_form_errors_and_nothing_is_saved(client, partner_user, connector, fields, error,
                                                                   settings):  # fmt: skip
    settings.STORAGE_ALLOW_LOOPBACK = False
    fields = {key: value.replace("\\x00", "\x00") if isinstance(value, str) else value for key, value in fields.items()}
    client.force_login(partner_user)
    response = client.post(reverse("connectors:destination_create", args=[connector.code]), {"name": "D", **fields})
    assert response.status_code == 400
    assert error in response.text
    assert not Destination.objects.exists()


def test_an_http_source_is_refused_as_a_destination(client, partner_user, connector):
    client.force_login(partner_user)
    response = client.post(reverse("connectors:destination_create", args=[connector.code]),
                           {"kind": "http", "name": "D", "url": "https://files.example.com/a.csv"})  # fmt: skip
    assert not Destination.objects.filter(kind="http").exists()
    assert response.status_code in (302, 400)


def test_credentials_are_write_only_a_blank_keeps_them(client, partner_user, connector):
    client.force_login(partner_user)
    url = reverse("connectors:destination_create", args=[connector.code])
    client.post(url, {"kind": "ftps", "name": "FTPS", "host": "ftp.example.com", "username": "u",
                      "password": "first-password-123"})  # fmt: skip
    destination = Destination.objects.get()
    edit = reverse("connectors:destination_edit", args=[connector.code, destination.code])
    page = client.get(edit)
    assert "first-password-123" not in page.text and "Leave blank to keep it" in page.text
    client.post(edit, {"kind": "ftps", "name": "FTPS", "host": "ftp.example.com", "username": "u2", "password": ""})
    destination.refresh_from_db()
    assert destination.location["username"] == "u2"
    assert destination.credentials_dict() == {"password": "first-password-123"}
    audit = AuditEvent.objects.filter(action="destination.update").latest("pk")
    assert "password" not in audit.changes  # kept: no change to record
    client.post(edit, {"kind": "ftps", "name": "FTPS", "host": "ftp.example.com", "username": "u2",
                       "password": "second-password-456"})  # fmt: skip
    audit = AuditEvent.objects.filter(action="destination.update").latest("pk")
    assert audit.changes["password"] == ["(secret changed)", "(secret changed)"]


def test_changing_the_kind_swaps_the_fields_without_a_full_page(client, partner_user, connector):
    client.force_login(partner_user)
    url = reverse("connectors:destination_create", args=[connector.code])
    fragment = client.get(url, {"kind": "s3"}, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and 'name="bucket"' in fragment.text and 'name="path"' not in fragment.text
    page = client.get(url, {"kind": "sftp"})
    assert "<html" in page.text and 'name="host_key"' in page.text


def test_another_partners_destination_is_unreachable_through_ones_own_connector(client, partner_user, connector,
                                                                                 project):  # fmt: skip
    rival = PartnerFactory(name="Competitor Inc")
    GrantFactory(project=project, partner=rival)
    foreign = DestinationFactory(connector=ConnectorFactory(project=project, partner=rival))
    client.force_login(partner_user)
    url = reverse("connectors:destination_edit", args=[connector.code, foreign.code])
    assert client.get(url).status_code == 404
    assert client.post(reverse("connectors:destination_delete", args=[connector.code, foreign.code])).status_code == 404
    assert Destination.objects.filter(pk=foreign.pk).exists()


def test_a_local_folder_never_leaves_its_partners_own_folder(client, partner_user, connector, project, storage_root,
                                                             tested):  # fmt: skip
    """Another partner's export folder, the broker's folder: unreachable whatever is typed (review finding)."""
    rival_files = storage_root / "exports" / "competitor-inc"
    rival_files.mkdir(parents=True)
    (rival_files / "App-events_KEY@IOS_2026-12-05.csv").write_text("secret rows")
    client.force_login(partner_user)
    for path in ("..", "../competitor-inc", "../../broker", "/exports", "a/../../competitor-inc"):
        response = client.post(reverse("connectors:source_create", args=[connector.code]),
                               {"kind": "local", "name": f"S {path}", "path": path, "pattern": "*"})  # fmt: skip
        assert response.status_code == 400, path
    client.post(reverse("connectors:source_create", args=[connector.code]),
                {"kind": "local", "name": "Mine", "path": "", "pattern": "*"})  # fmt: skip
    source = Source.objects.get()
    result = tested("source", connector, source)
    assert 'data-outcome="ok"' in result and "App-events_KEY" not in result


def test_stored_credentials_are_never_sent_to_a_new_host_unless_typed_again(client, partner_user, connector):
    client.force_login(partner_user)
    client.post(reverse("connectors:destination_create", args=[connector.code]),
                {"kind": "ftp", "name": "FTP", "host": "ftp.example.com", "username": "u",
                 "password": "stored-password-1"})  # fmt: skip
    destination = Destination.objects.get()
    edit = reverse("connectors:destination_edit", args=[connector.code, destination.code])
    moved = client.post(edit, {"kind": "ftp", "name": "FTP", "host": "evil.example.net", "username": "u"})
    assert moved.status_code == 400 and "type the credentials again" in moved.text
    destination.refresh_from_db()
    assert destination.location["host"] == "ftp.example.com"
    client.post(edit, {"kind": "ftp", "name": "FTP", "host": "ftp2.example.com", "username": "u", "password": "new-1"})
    destination.refresh_from_db()
    assert (destination.location["host"], destination.credentials_dict()) == ("ftp2.example.com", {"password": "new-1"})


def test_a_stored_credential_can_be_removed(client, partner_user, connector):
    client.force_login(partner_user)
    create = reverse("connectors:source_create", args=[connector.code])
    client.post(create, {"kind": "http", "name": "Feed", "url": "https://files.example.com/a.csv?sig=abc123",
                         "header_name": "Authorization", "header_value": "Bearer t0ken-1", "pattern": "*"})  # fmt: skip
    source = Source.objects.get()
    assert source.location == {"url": "https://files.example.com/a.csv"}  # the signature is kept encrypted
    assert source.transport_location()["url"] == "https://files.example.com/a.csv?sig=abc123"
    edit = reverse("connectors:source_edit", args=[connector.code, source.code])
    client.post(edit, {"kind": "http", "name": "Feed", "url": "https://files.example.com/a.csv", "pattern": "*",
                       "clear_header_name": "on", "clear_header_value": "on"})  # fmt: skip
    source.refresh_from_db()
    assert source.credentials_dict() == {"url_query": "sig=abc123"}


def test_one_test_at_a_time_and_a_save_discards_a_stale_result(client, partner_user, connector, storage_root):
    """A second press while a Test runs asks nothing more; a result that arrives after the settings changed is not
    recorded as theirs (review finding)."""
    from batchhub.connectors import services as connector_services

    destination = DestinationFactory(connector=connector, location={})
    client.force_login(partner_user)
    url = reverse("connectors:destination_test", args=[connector.code, destination.code])
    client.post(url, headers={"HX-Request": "true"})  # the worker has not run it (nothing committed here)
    destination.refresh_from_db()
    asked_at = destination.test_requested_at
    assert destination.test_running
    client.post(url, headers={"HX-Request": "true"})
    destination.refresh_from_db()
    assert destination.test_requested_at == asked_at
    connector_services.storage_save(actor=partner_user, connector=connector, direction="destination",
                                    location=destination, name="Renamed", kind="local",
                                    location_settings={"path": "elsewhere"}, secrets={})  # fmt: skip
    connector_services.storage_test(location=destination, requested_at=asked_at)  # the old Test ends now
    destination.refresh_from_db()
    assert destination.last_tested_at is None and destination.last_test_ok is None


def test_the_admin_lists_connectors_read_only_without_keys(client, connector, django_user_model):
    key = connector.keys.create(name="production")
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "x" * 16)
    client.force_login(admin)
    listing = client.get(reverse("admin:connectors_connector_changelist"))
    assert listing.status_code == 200 and connector.name in listing.text
    page = client.get(reverse("admin:connectors_connector_change", args=[connector.pk]))
    assert page.status_code == 200 and key.secret.reveal() not in page.text
    assert (
        client.post(reverse("admin:connectors_connector_change", args=[connector.pk]), {"name": "x"}).status_code == 403
    )


def test_a_test_no_worker_took_stops_waiting_and_may_be_asked_again(client, partner_user, connector, storage_root):
    import datetime as dt

    from django.utils import timezone

    destination = DestinationFactory(connector=connector, location={})
    long_ago = timezone.now() - dt.timedelta(minutes=5)
    type(destination).objects.filter(pk=destination.pk).update(test_requested_at=long_ago)  # the broker was away
    client.force_login(partner_user)
    url = reverse("connectors:destination_test", args=[connector.code, destination.code])
    polled = client.get(url, headers={"HX-Request": "true"})
    assert 'data-outcome="stalled"' in polled.text and "hx-trigger" not in polled.text  # no endless polling
    client.post(url, headers={"HX-Request": "true"})
    destination.refresh_from_db()
    assert destination.test_requested_at > long_ago  # asked again


def test_a_new_partner_never_inherits_a_deleted_partners_folders(db, storage_root):
    from batchhub.accounts.models import Partner

    (storage_root / "exports" / "pushwave").mkdir(parents=True)  # files of a partner deleted since
    newcomer = Partner.objects.create(name="Pushwave", kind="cdp_dmp")
    assert newcomer.slug == "pushwave-2"
    assert Partner.objects.create(name="Push wave!", kind="cdp_dmp").slug == "push-wave"


def test_a_new_host_key_or_ca_asks_for_the_credentials_again(client, partner_user, connector):
    client.force_login(partner_user)
    sftp = {"kind": "sftp", "name": "SFTP", "host": "sftp.example.com", "username": "u",
            "host_key": "SHA256:" + "A" * 43}  # fmt: skip
    client.post(reverse("connectors:destination_create", args=[connector.code]), {**sftp, "password": "pw-1"})
    destination = Destination.objects.get()
    edit = reverse("connectors:destination_edit", args=[connector.code, destination.code])
    response = client.post(edit, {**sftp, "host_key": "SHA256:" + "B" * 43})
    assert response.status_code == 400 and "type the credentials again" in response.text
    destination.refresh_from_db()
    assert destination.location["host_key"] == "SHA256:" + "A" * 43


def test_a_late_task_for_a_test_the_page_gave_up_on_does_nothing(connector, storage_root):
    import datetime as dt

    from django.utils import timezone

    from batchhub.connectors.tasks import storage_test_run

    destination = DestinationFactory(connector=connector, location={})
    asked = timezone.now() - dt.timedelta(minutes=5)
    type(destination).objects.filter(pk=destination.pk).update(test_requested_at=asked)
    assert storage_test_run("destination", destination.pk, asked.isoformat()) is None
    destination.refresh_from_db()
    assert destination.last_tested_at is None
