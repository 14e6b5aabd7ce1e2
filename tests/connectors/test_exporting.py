"""An export run writes one app's day into its destination byte for byte, with its manifest, exactly once per
(config, day)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket

import pytest

from batchhub.connectors import formats
from batchhub.connectors.exporting import export_file_name, export_run_ensure, export_run_execute
from batchhub.connectors.models import ExportConfig, ExportRun
from batchhub.core.jobs.runs import run_claim
from batchhub.core.storage.base import ErrorClass, TransportError
from tests.connectors.conftest import export_config_make
from tests.factories import (
    AppFactory,
    DestinationFactory,
    InAppEventFactory,
    InstallationFactory,
    PushEventFactory,
)

pytestmark = pytest.mark.portable
DAY = dt.date(2026, 12, 5)


def at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, 5, hour, minute, tzinfo=dt.UTC)


def _config(world, kind, identifier="installation_id") -> ExportConfig:
    return export_config_make(world, kind, identifier)


def _claimed(config: ExportConfig, day: dt.date = DAY) -> ExportRun:
    """The day's run, claimed as a worker does before executing it."""
    return run_claim(ExportRun, export_run_ensure(config, day)[0].pk, claimer="test")


def test_a_push_export_writes_the_days_rows_and_a_manifest(world):
    app, _, _, folder = world
    alice = InstallationFactory(app=app, installation_id="inst-a", custom_id="alice", advertising_id="ad-a")
    PushEventFactory(installation=alice, custom_id="alice", occurred_at=at(9), token="CAMP")
    PushEventFactory(installation=alice, custom_id="alice", occurred_at=at(10), type="push_sent",
                     source="transactional", token="TX", group_id="welcome")  # fmt: skip
    PushEventFactory(installation=alice, custom_id="alice", occurred_at=at(0) - dt.timedelta(seconds=1))  # day before
    PushEventFactory(installation=alice, custom_id="alice", occurred_at=at(0) + dt.timedelta(days=1))  # day after
    run = export_run_execute(_claimed(_config(world, "push_events")))
    name = f"MyShop-events_{app.live_api_key}@IOS_2026-12-05.csv"
    expected = (
        b"alice;inst-a;2026-12-05T09:00:00;push_opened;campaign;CAMP;\n"
        b"alice;inst-a;2026-12-05T10:00:00;push_sent;transactional;TX;welcome\n"
    )
    assert (folder / name).read_bytes() == expected
    assert (run.file_name, run.rows, run.bytes) == (name, 2, len(expected))
    assert run.sha256 == hashlib.sha256(expected).hexdigest()
    manifest = json.loads((folder / formats.manifest_name(name)).read_text())
    assert manifest["file"] == name and manifest["rows"] == 2 and manifest["bytes"] == len(expected)
    assert manifest["sha256"] == run.sha256 and manifest["format_version"] == formats.FORMAT_VERSION
    assert sorted(path.name for path in folder.iterdir()) == sorted([name, formats.manifest_name(name)])


def test_an_empty_day_still_writes_its_file_and_manifest(world):
    _, _, _, folder = world
    push = export_run_execute(_claimed(_config(world, "push_events")))
    inapp = export_run_execute(_claimed(_config(world, "inapp_events")))
    assert (folder / push.file_name).read_bytes() == b""  # no header for push events
    assert (folder / inapp.file_name).read_bytes() == (formats.INAPP_HEADER + "\n").encode()
    assert push.rows == inapp.rows == 0
    assert (folder / formats.manifest_name(push.file_name)).exists()


def test_userbase_with_advertising_ids_lists_every_installation(world):
    app, _, _, folder = world
    InstallationFactory(app=app, installation_id="i1", custom_id="bob", advertising_id="AD-1", push_optin=True)
    InstallationFactory(app=app, installation_id="i2", custom_id=None, advertising_id="AD-2", push_optin=False)
    InstallationFactory(installation_id="elsewhere")  # another app
    run = export_run_execute(_claimed(_config(world, "userbase", "advertising_id")))
    assert (folder / run.file_name).read_bytes() == b"bob;AD-1;True\n;AD-2;False\n"


def test_in_app_rows_carry_the_cta_of_clicks_only(world):
    app, _, _, folder = world
    bob = InstallationFactory(app=app, installation_id="i-b", custom_id="=bob")
    InAppEventFactory(installation=bob, custom_id="=bob", occurred_at=at(8), type="inapp_shown", campaign_token="C",
                      cta_position=4, cta_action="x")  # fmt: skip
    InAppEventFactory(installation=bob, custom_id="=bob", occurred_at=at(9), campaign_token="C", cta_position=1,
                      cta_action="batch.deeplink")  # fmt: skip
    run = export_run_execute(_claimed(_config(world, "inapp_events")))
    assert (folder / run.file_name).read_bytes() == (
        formats.INAPP_HEADER + "\n"
        "'=bob;i-b;2026-12-05T08:00:00;inapp_shown;C;;\n"
        "'=bob;i-b;2026-12-05T09:00:00;inapp_clicked;C;1;batch.deeplink\n"
    ).encode()


def test_a_config_and_day_have_one_run_whoever_asks(world):
    config = _config(world, "push_events")
    first, execute = export_run_ensure(config, DAY)
    assert execute
    again, execute_again = export_run_ensure(config, DAY)
    assert again.pk == first.pk and execute_again  # still queued: the same row, run once by whoever claims it
    export_run_execute(run_claim(ExportRun, first.pk, claimer="test"))
    ExportRun.objects.filter(pk=first.pk).update(status="succeeded")
    _, execute_finished = export_run_ensure(config, DAY)
    assert not execute_finished
    forced, execute_forced = export_run_ensure(config, DAY, forced=True)
    assert execute_forced and forced.pk == first.pk and forced.status == "queued" and forced.forced
    assert ExportRun.objects.count() == 1
    assert export_file_name(config, DAY).endswith("_2026-12-05.csv")


def test_a_destination_that_fails_records_the_classified_error(world, settings):
    app, connector, _, _ = world
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    sftp = DestinationFactory(connector=connector, kind="sftp", location={
        "host": "127.0.0.1", "port": port, "username": "u", "host_key": "SHA256:" + "A" * 43,
    }, credentials=json.dumps({"password": "p"}))  # fmt: skip
    settings.STORAGE_ALLOW_LOOPBACK = True
    config = ExportConfig.objects.create(connector=connector, app=app, kind="userbase", destination=sftp)
    run = _claimed(config)
    with pytest.raises(TransportError) as raised:
        export_run_execute(run)
    assert raised.value.error_class is ErrorClass.TRANSIENT
    run.refresh_from_db()
    assert run.error_class == "transient" and run.error and run.attempts == 1


def _closed_port() -> int:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return closed.getsockname()[1]


def test_the_daily_dispatch_twice_makes_one_run_and_one_file_per_config(world, django_capture_on_commit_callbacks):
    from batchhub.connectors.tasks import exports_daily

    app, _, _, folder = world
    InstallationFactory(app=app, installation_id="i1", custom_id="bob")
    config = _config(world, "userbase")
    paused = _config(world, "push_events")
    ExportConfig.objects.filter(pk=paused.pk).update(paused_reason="Paused after 3 failed days")
    with django_capture_on_commit_callbacks(execute=True):  # two dispatchers at once: both queue the one run
        first = exports_daily()
        second = exports_daily()
    assert len(first) == 1 and second == first  # the second task found the run done and did nothing
    assert exports_daily() == []  # later: nothing left to do
    run = ExportRun.objects.get()
    assert (run.config_id, run.status) == (config.pk, "succeeded")
    assert [path.name for path in folder.iterdir() if path.suffix == ".csv"] == [run.file_name]


def test_transient_failures_are_tried_again_then_three_failed_days_pause_the_config(world, settings):
    from batchhub.connectors.tasks import export_run

    app, connector, _, _ = world
    settings.STORAGE_ALLOW_LOOPBACK, settings.EXPORT_RETRY_SECONDS = True, 0
    location = {"host": "127.0.0.1", "port": _closed_port(), "username": "u"}
    down = DestinationFactory(connector=connector, kind="ftp", location=location, credentials='{"password": "p"}')
    config = ExportConfig.objects.create(connector=connector, app=app, kind="userbase", destination=down)
    for offset in range(3):
        run, _ = export_run_ensure(config, DAY - dt.timedelta(days=offset))
        export_run.delay(run.pk)  # eager: each retry runs at once
        run.refresh_from_db()
        assert (run.status, run.attempts, run.error_class) == ("failed", settings.EXPORT_ATTEMPTS, "transient")
    config.refresh_from_db()
    assert config.consecutive_failures == 3 and config.paused_reason.startswith("Paused after 3 failed days")
    from batchhub.connectors.exporting import export_configs_due

    assert config not in export_configs_due()


def test_the_exports_run_command_prints_one_json_line_per_run(world):
    from io import StringIO

    from django.core.management import call_command

    _, _, _, folder = world
    config = _config(world, "userbase")
    out = StringIO()
    call_command("exports_run", "--day", DAY.isoformat(), "--json", stdout=out)
    line = json.loads(out.getvalue())
    assert (line["config"], line["status"], line["rows"]) == (str(config.code), "succeeded", 0)
    assert (folder / line["file"]).exists()
    again = StringIO()
    call_command("exports_run", "--day", DAY.isoformat(), "--json", "--force", stdout=again)
    assert json.loads(again.getvalue())["status"] == "succeeded" and ExportRun.objects.count() == 1


def test_a_destination_that_exports_write_to_cannot_be_deleted(client, world):
    from django.urls import reverse

    from tests.factories import GrantFactory, UserFactory

    _, connector, destination, _ = world
    GrantFactory(project=connector.project, partner=connector.partner)
    _config(world, "userbase")
    client.force_login(UserFactory.partner_user(partner=connector.partner, username="owner"))
    response = client.post(reverse("connectors:destination_delete", args=[connector.code, destination.code]))
    assert response.status_code == 302
    assert destination.__class__.objects.filter(pk=destination.pk).exists()
    assert "move them to another one" in client.get(response["Location"]).text


def test_a_partner_adds_a_daily_export_runs_it_now_and_resumes_it_when_paused(
    client, world, storage_root, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from tests.factories import GrantFactory, UserFactory

    app, connector, destination, folder = world
    GrantFactory(project=connector.project, partner=connector.partner)
    client.force_login(UserFactory.partner_user(partner=connector.partner, username="owner"))
    other_app = AppFactory(platform="web")  # another project's: not offered
    page = client.get(reverse("connectors:export_create", args=[connector.code]))
    assert str(app) in page.text and str(other_app.code) not in page.text
    response = client.post(reverse("connectors:export_create", args=[connector.code]), {
        "app": str(app.code), "kind": "userbase", "identifier": "installation_id",
        "destination": str(destination.code), "enabled": "on"})  # fmt: skip
    config = ExportConfig.objects.get()
    assert response.status_code == 302 and config.destination == destination
    refused = client.post(reverse("connectors:export_create", args=[connector.code]), {
        "app": str(other_app.code), "kind": "userbase", "identifier": "installation_id",
        "destination": str(destination.code)})  # fmt: skip
    assert refused.status_code == 400 and ExportConfig.objects.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("connectors:export_run", args=[connector.code, config.code]))
    run = ExportRun.objects.get()
    assert run.status == "succeeded" and (folder / run.file_name).exists()
    assert run.file_name in client.get(reverse("connectors:export_edit", args=[connector.code, config.code])).text
    ExportConfig.objects.filter(pk=config.pk).update(paused_reason="Paused after 3 failed days", consecutive_failures=3)
    ExportRun.objects.filter(pk=run.pk).update(status="failed")  # yesterday failed: Resume exports it again
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("connectors:export_edit", args=[connector.code, config.code]), {
            "app": str(app.code), "kind": "userbase", "identifier": "advertising_id",
            "destination": str(destination.code), "enabled": "on"})  # fmt: skip
    config.refresh_from_db()
    assert (config.paused_reason, config.consecutive_failures, config.identifier) == ("", 0, "advertising_id")
    run.refresh_from_db()
    backfill = config.backfills.get()
    assert run.status == "succeeded" and (backfill.resume, backfill.exported) == (True, 1)  # exported again


def test_deleting_a_connector_takes_its_exports_and_their_runs(world):
    from batchhub.connectors import services

    _, connector, _, _ = world
    config = _config(world, "userbase")
    export_run_ensure(config, DAY)
    services.connector_delete(actor=None, connector=connector)
    assert not ExportConfig.objects.exists() and not ExportRun.objects.exists()
