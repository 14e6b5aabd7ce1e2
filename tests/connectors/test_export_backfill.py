"""Backfill and Resume: a range of days exported in order by a worker, unchanged days skipped unless forced, a failing
day stopping the rest; the export's page with its chart, progress and run details."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket

import pytest
from django.urls import reverse
from django.utils import timezone

from batchhub.connectors.exporting import (
    BackfillRefused,
    export_backfill_request,
    export_config_resume,
    export_run_ensure,
)
from batchhub.connectors.models import ExportBackfill, ExportConfig, ExportRun
from batchhub.connectors.tasks import export_backfill_run
from batchhub.core.roles import CSM
from batchhub.core.storage.base import ErrorClass, TransportError
from tests.connectors.conftest import export_config_make
from tests.factories import DestinationFactory, GrantFactory, InstallationFactory, PushEventFactory, UserFactory

pytestmark = pytest.mark.portable


def _yesterday() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date() - dt.timedelta(days=1)


def _days(first: dt.date, count: int) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range(count)]


def _event_on(app, day: dt.date, custom_id: str = "bob") -> None:
    installation = InstallationFactory(app=app, custom_id=custom_id)
    PushEventFactory(installation=installation, custom_id=custom_id,
                     occurred_at=dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC))  # fmt: skip


def _backfill(config, first, last, **kwargs) -> ExportBackfill:
    backfill = export_backfill_request(config, first, last, **kwargs)
    export_backfill_run.delay(backfill.pk)  # eager in tests
    backfill.refresh_from_db()
    return backfill


def _closed_port() -> int:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return closed.getsockname()[1]


def test_a_backfill_exports_each_day_in_order_and_skips_the_unchanged_ones(world):
    app, _, _, folder = world
    config = export_config_make(world, "push_events")
    first = _yesterday() - dt.timedelta(days=3)
    for day in _days(first, 4):
        _event_on(app, day)
    backfill = _backfill(config, first, _yesterday())
    assert (backfill.status, backfill.rows_done, backfill.exported, backfill.unchanged) == ("succeeded", 4, 4, 0)
    runs = list(config.runs.order_by("started_at", "pk"))
    assert [run.day for run in runs] == _days(first, 4)  # one after the other, oldest first
    assert all(run.status == "succeeded" and run.rows == 1 for run in runs)
    written = {run.day: os.stat(folder / run.file_name).st_ino for run in runs}

    late = _days(first, 4)[1]  # a late event lands on the second day; the third day's file is lost at the partner
    _event_on(app, late, custom_id="late")
    (folder / runs[2].file_name).unlink()
    again = _backfill(config, first, _yesterday())
    assert (again.exported, again.unchanged) == (2, 2)
    inodes = {run.day: os.stat(folder / run.file_name).st_ino for run in config.runs.all()}
    rewritten = {day for day, inode in inodes.items() if inode != written[day]}
    assert rewritten == {late, runs[2].day}
    assert config.runs.get(day=late).rows == 2 and (folder / runs[2].file_name).exists()

    forced = _backfill(config, first, _yesterday(), force=True)
    assert (forced.exported, forced.unchanged) == (4, 0)
    assert ExportRun.objects.filter(config=config).count() == 4  # one row per day, whatever ran


def test_a_backfill_refuses_ranges_it_cannot_do_and_a_second_one_at_the_same_time(world):
    config = export_config_make(world, "userbase")
    yesterday = _yesterday()
    for first, last, message in [
        (yesterday, yesterday + dt.timedelta(days=1), "at the latest"),
        (yesterday - dt.timedelta(days=90), yesterday, "90 days at most"),
        (yesterday, yesterday - dt.timedelta(days=1), "comes after"),
    ]:
        with pytest.raises(BackfillRefused, match=message):
            export_backfill_request(config, first, last)
    export_backfill_request(config, yesterday - dt.timedelta(days=89), yesterday)  # the 90 days: accepted
    with pytest.raises(BackfillRefused, match="under way"):
        export_backfill_request(config, yesterday, yesterday)
    assert ExportBackfill.objects.count() == 1


def test_a_day_that_keeps_failing_stops_the_backfill_there(world, settings):
    app, connector, _, _ = world
    settings.STORAGE_ALLOW_LOOPBACK, settings.EXPORT_RETRY_SECONDS = True, 0
    location = {"host": "127.0.0.1", "port": _closed_port(), "username": "u"}
    down = DestinationFactory(connector=connector, kind="ftp", location=location, credentials='{"password": "p"}')
    config = ExportConfig.objects.create(connector=connector, app=app, kind="userbase", destination=down)
    first = _yesterday() - dt.timedelta(days=2)
    backfill = _backfill(config, first, _yesterday())  # eager: each wait-and-retry runs at once
    assert backfill.status == "failed" and backfill.rows_done == 0
    assert backfill.error.startswith(f"Stopped at {first:%Y-%m-%d}:") and "were not exported" in backfill.error
    run = config.runs.get()  # the later days were not tried: no hole before the last file
    assert (run.day, run.status, run.attempts, run.error_class) == (first, "failed", settings.EXPORT_ATTEMPTS,
                                                                    "transient")  # fmt: skip


def test_resume_exports_every_missed_day_in_order(world):
    config = export_config_make(world, "userbase")
    yesterday = _yesterday()
    for offset, status in ((5, "succeeded"), (4, "failed"), (3, "failed"), (2, "failed")):
        run, _ = export_run_ensure(config, yesterday - dt.timedelta(days=offset))
        ExportRun.objects.filter(pk=run.pk).update(status=status)
    ExportConfig.objects.filter(pk=config.pk).update(paused_reason="Paused after 3 failed days", consecutive_failures=3)
    backfill = export_config_resume(config)
    assert (backfill.first_day, backfill.last_day, backfill.resume) == (yesterday - dt.timedelta(days=4), yesterday,
                                                                        True)  # fmt: skip
    config.refresh_from_db()
    assert (config.paused_reason, config.consecutive_failures) == ("", 0)
    export_backfill_run.delay(backfill.pk)
    runs = config.runs.filter(day__gte=backfill.first_day).order_by("started_at", "pk")
    assert [run.day for run in runs] == _days(backfill.first_day, 5)
    assert {run.status for run in runs} == {"succeeded"}
    assert export_config_resume(config) is None  # nothing missed any more


def test_a_partner_backfills_from_the_page_and_watches_its_progress(client, world, django_capture_on_commit_callbacks):
    app, connector, _, _ = world
    GrantFactory(project=connector.project, partner=connector.partner)
    client.force_login(UserFactory.partner_user(partner=connector.partner, username="owner"))
    config = export_config_make(world, "push_events")
    _event_on(app, _yesterday())
    url = reverse("connectors:export_backfill", args=[connector.code, config.code])
    refused = client.post(url, {"first_day": "2020-01-01", "last_day": _yesterday().isoformat()})
    assert refused.status_code == 400 and "90 days at most" in refused.text
    garbage = client.post(url, {"first_day": "yesterday", "last_day": "2026-02-30"})
    assert garbage.status_code == 400 and "Enter a valid date" in garbage.text
    first = _yesterday() - dt.timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"first_day": first.isoformat(), "last_day": _yesterday().isoformat()})
    assert response.status_code == 302
    backfill = config.backfills.get()
    progress = reverse("connectors:export_backfill_progress", args=[connector.code, config.code, backfill.code])
    assert progress in client.get(response["Location"]).text
    polled = client.get(progress, headers={"HX-Request": "true"})
    assert polled.status_code == 286  # finished: htmx stops polling
    assert "2 of 2 days" in polled.text and "1 exported, 1 unchanged" not in polled.text
    assert "2 exported, 0 unchanged" in polled.text
    page = client.get(reverse("connectors:export_edit", args=[connector.code, config.code]))
    assert 'data-testid="export-chart"' in page.text and f'data-day="{_yesterday():%Y-%m-%d}"' in page.text
    assert page.text.count('class="bar bar-ok"') == 2 and "Healthy" in page.text


def test_run_detail_shows_the_manifest_and_the_classified_error(client, world, settings):
    app, connector, _, folder = world
    GrantFactory(project=connector.project, partner=connector.partner)
    config = export_config_make(world, "userbase")
    InstallationFactory(app=app, custom_id="bob")
    day = _yesterday()
    backfill = _backfill(config, day, day)
    assert backfill.status == "succeeded"
    run = config.runs.get()
    client.force_login(UserFactory.partner_user(partner=connector.partner, username="owner"))
    detail = client.get(reverse("connectors:export_run_detail", args=[connector.code, config.code, day]))
    assert detail.status_code == 200
    assert run.sha256 in detail.text and f"&quot;file&quot;: &quot;{run.file_name}&quot;" in detail.text
    assert run.manifest == json.loads((folder / (run.file_name[:-4] + ".manifest.json")).read_text())

    settings.STORAGE_ALLOW_LOOPBACK = True
    config.destination = DestinationFactory(
        connector=connector,
        kind="ftp",
        credentials='{"password": "p"}',
        location={"host": "127.0.0.1", "port": _closed_port(), "username": "u"},
    )
    config.save()  # fmt: skip
    settings.EXPORT_ATTEMPTS = 1
    failed = _backfill(config, day - dt.timedelta(days=1), day - dt.timedelta(days=1))
    assert failed.status == "failed"
    page = client.get(reverse("connectors:export_run_detail", args=[connector.code, config.code,
                                                                     day - dt.timedelta(days=1)]))  # fmt: skip
    assert 'data-testid="run-error"' in page.text and "Temporary" in page.text and "No manifest" in page.text
    assert client.get(f"/connectors/{connector.code}/exports/{config.code}/runs/2026-02-30/").status_code == 404
    assert client.get(f"/connectors/{connector.code}/exports/{config.code}/runs/2000-01-01/").status_code == 404
    client.force_login(UserFactory(username="csm", role=CSM))
    as_csm = client.get(reverse("connectors:export_run_detail", args=[connector.code, config.code, day]))
    assert as_csm.status_code == 200 and run.sha256 in as_csm.text


def test_a_csm_sees_an_export_and_its_runs_but_changes_nothing(client, world):
    _, connector, _, _ = world
    config = export_config_make(world, "userbase")
    client.force_login(UserFactory(username="csm", role=CSM))
    page = client.get(reverse("connectors:export_edit", args=[connector.code, config.code]))
    assert page.status_code == 200 and 'data-testid="export-runs"' in page.text
    assert "<form" not in page.text.split("<main", 1)[-1].split("Settings", 1)[-1].split("Last 30 days")[0]
    post = client.post(reverse("connectors:export_backfill", args=[connector.code, config.code]),
                       {"first_day": _yesterday().isoformat(), "last_day": _yesterday().isoformat()})  # fmt: skip
    assert post.status_code == 404 and not ExportBackfill.objects.exists()
    other = UserFactory.partner_user(username="other-partner")
    client.force_login(other)
    assert client.get(reverse("connectors:export_edit", args=[connector.code, config.code])).status_code == 404


def test_runs_and_backfills_whose_task_was_lost_are_queued_again(world, django_capture_on_commit_callbacks):
    from batchhub.connectors.tasks import exports_resume

    config = export_config_make(world, "userbase")
    day = _yesterday()
    run, _ = export_run_ensure(config, day - dt.timedelta(days=5))
    backfill = export_backfill_request(config, day - dt.timedelta(days=1), day)
    long_ago = timezone.now() - dt.timedelta(minutes=11)
    ExportRun.objects.filter(pk=run.pk).update(created_at=long_ago)
    ExportBackfill.objects.filter(pk=backfill.pk).update(created_at=long_ago)
    with django_capture_on_commit_callbacks(execute=True):
        assert exports_resume.apply().get() == {"runs": [run.pk], "backfills": [backfill.pk]}
    run.refresh_from_db()
    backfill.refresh_from_db()
    assert (run.status, backfill.status, backfill.exported) == ("succeeded", "succeeded", 2)
    assert exports_resume.apply().get() == {"runs": [], "backfills": []}


def test_resuming_a_connector_exports_the_days_it_missed_while_paused(
    client, world, django_capture_on_commit_callbacks
):
    from batchhub.connectors import services

    app, connector, _, folder = world
    GrantFactory(project=connector.project, partner=connector.partner)
    config = export_config_make(world, "push_events")
    yesterday = _yesterday()
    done, _ = export_run_ensure(config, yesterday - dt.timedelta(days=4))
    ExportRun.objects.filter(pk=done.pk).update(status="succeeded")
    services.connector_pause(actor=None, connector=connector, reason="holiday")
    for day in _days(yesterday - dt.timedelta(days=3), 4):  # the dispatcher made no run of these days
        _event_on(app, day)
    client.force_login(UserFactory.partner_user(partner=connector.partner, username="owner"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("connectors:resume", args=[connector.code]))
    assert "the exports it missed are queued" in client.get(response["Location"]).text
    backfill = config.backfills.get()
    assert (backfill.first_day, backfill.last_day, backfill.resume, backfill.status) == (
        yesterday - dt.timedelta(days=3), yesterday, True, "succeeded")  # fmt: skip
    assert sorted(config.runs.filter(status="succeeded").values_list("day", flat=True)) == _days(
        yesterday - dt.timedelta(days=4), 5)  # fmt: skip
    assert len(list(folder.glob("*.csv"))) == 4


class _MidwayFailing:
    """A destination whose connection drops once the file has started to stream (what the closed-port tests never
    reach): it reads the first bytes of the export, then fails as a timeout would."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.inner.close()

    def write(self, name, stream) -> int:
        stream.read(1024)
        raise TransportError(ErrorClass.TRANSIENT, "timeout", "The connection dropped midway; it will be retried.")

    def __getattr__(self, attribute):
        return getattr(self.inner, attribute)


@pytest.mark.django_db(transaction=True)  # the export runs in a thread, on a connection of its own
def test_a_write_that_fails_midway_is_retried_then_fails_without_hanging_the_worker(world, settings, monkeypatch):
    import threading

    from batchhub.connectors import exporting
    from batchhub.connectors.models import PushEvent
    from batchhub.connectors.tasks import export_run

    app, _, _, _ = world
    settings.EXPORT_RETRY_SECONDS = 0
    installation = InstallationFactory(app=app, custom_id="bob")
    start = dt.datetime.combine(_yesterday(), dt.time(), tzinfo=dt.UTC)
    PushEvent.objects.bulk_create(
        PushEvent(app=app, installation=installation, custom_id=f"user-{n}", type="push_opened", source="campaign",
                  occurred_at=start + dt.timedelta(seconds=n), token="CAMPAIGN")
        for n in range(5000)
    )  # fmt: skip
    opened = exporting.transport_open
    monkeypatch.setattr(exporting, "transport_open", lambda *args: _MidwayFailing(opened(*args)))
    config = export_config_make(world, "push_events")
    run, _ = export_run_ensure(config, _yesterday())

    def work() -> None:
        try:
            export_run.delay(run.pk)  # eager: each retry at once
        finally:
            from django.db import connection

            connection.close()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the export hung after a write that failed midway"
    run.refresh_from_db()
    assert (run.status, run.attempts, run.error_code) == ("failed", settings.EXPORT_ATTEMPTS, "timeout")


def test_a_day_queued_again_counts_its_attempts_afresh_and_forgets_its_old_file(world, settings):
    config = export_config_make(world, "push_events")
    day = _yesterday()
    run, _ = export_run_ensure(config, day)
    ExportRun.objects.filter(pk=run.pk).update(status="failed", attempts=settings.EXPORT_ATTEMPTS, sha256="0" * 64,
                                               rows=12, bytes=345, manifest={"file": "old"})  # fmt: skip
    requeued, execute = export_run_ensure(config, day, forced=True)
    assert execute and (requeued.attempts, requeued.rows, requeued.sha256, requeued.manifest) == (0, None, "", {})
    backfill = _backfill(config, day, day)
    run.refresh_from_db()
    assert (backfill.status, run.status, run.attempts) == ("succeeded", "succeeded", 1)


def test_a_past_userbase_day_is_not_written_again_with_todays_userbase_unless_forced(world):
    app, _, _, folder = world
    config = export_config_make(world, "userbase")
    day = _yesterday() - dt.timedelta(days=3)
    InstallationFactory(app=app, custom_id="bob")
    assert _backfill(config, day, day).exported == 1
    run = config.runs.get()
    inode = os.stat(folder / run.file_name).st_ino
    InstallationFactory(app=app, custom_id="new-today")  # the userbase grew since
    assert _backfill(config, day, day).unchanged == 1
    assert os.stat(folder / run.file_name).st_ino == inode and b"new-today" not in (folder / run.file_name).read_bytes()
    (folder / run.file_name).unlink()  # lost at the partner: written again, with the userbase there is now
    assert _backfill(config, day, day).exported == 1
    assert b"new-today" in (folder / run.file_name).read_bytes()


def test_resume_reaches_back_to_the_first_failed_day_even_after_a_later_success(world):
    config = export_config_make(world, "userbase")
    yesterday = _yesterday()
    for offset, status in ((5, "failed"), (4, "failed"), (0, "succeeded")):  # "Export now" while paused
        run, _ = export_run_ensure(config, yesterday - dt.timedelta(days=offset))
        ExportRun.objects.filter(pk=run.pk).update(status=status)
    backfill = export_config_resume(config)
    assert (backfill.first_day, backfill.last_day) == (yesterday - dt.timedelta(days=5), yesterday)


def test_the_sweeper_leaves_a_run_waiting_for_its_retry_alone(world, django_capture_on_commit_callbacks):
    from batchhub.connectors.tasks import exports_resume
    from batchhub.core.jobs.runs import run_claim, run_release

    config = export_config_make(world, "userbase")
    run, _ = export_run_ensure(config, _yesterday())
    ExportRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - dt.timedelta(hours=2))
    run_release(run_claim(ExportRun, run.pk, claimer="w"))  # a transient failure: queued again for its backoff
    with django_capture_on_commit_callbacks(execute=True):
        assert exports_resume.apply().get() == {"runs": [], "backfills": []}
    ExportRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - dt.timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        assert exports_resume.apply().get() == {"runs": [run.pk], "backfills": []}  # its message was lost
