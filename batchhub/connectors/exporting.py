"""One export run: the rows of one config's UTC day streamed from the database into its destination, published only
when whole, with a manifest beside it (issue 13). The dispatcher, the worker task, the command and the screens
build on `export_run_ensure` and `export_run_execute`."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import closing

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from batchhub.connectors import formats
from batchhub.connectors.models import (
    Connector,
    ExportBackfill,
    ExportConfig,
    ExportKind,
    ExportRun,
    InAppEvent,
    PushEvent,
)
from batchhub.core.audit.record import audit_record
from batchhub.core.jobs.runs import RunLost, run_beating, run_claim, run_finish, run_progress, run_release
from batchhub.core.models import Run
from batchhub.core.storage.base import ErrorClass, Transport, TransportError, transport_open
from batchhub.profiles.models import Installation

logger = logging.getLogger(__name__)

COPY_CHUNK = 256 * 1024


class _CountingStream(io.RawIOBase):
    """The bytes of an iterator of chunks as a readable stream, with their sha256 and size as they pass."""

    def __init__(self, chunks: Iterator[bytes], on_chunk: Callable[[bytes], None] | None = None) -> None:
        self._chunks, self._pending, self._on_chunk = chunks, b"", on_chunk
        self.sha256, self.size = hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
            if self._on_chunk is not None:
                self._on_chunk(self._pending)
        count = min(len(buffer), len(self._pending))
        buffer[:count], self._pending = self._pending[:count], self._pending[count:]
        self.sha256.update(buffer[:count])
        self.size += count
        return count


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def _rows_count(config: ExportConfig, day: dt.date) -> int:
    if config.kind == ExportKind.USERBASE:
        return Installation.objects.filter(app_id=config.app_id).count()
    start, end = _day_bounds(day)
    model = PushEvent if config.kind == ExportKind.PUSH_EVENTS else InAppEvent
    return model.objects.filter(app_id=config.app_id, occurred_at__gte=start, occurred_at__lt=end).count()


def _header(config: ExportConfig) -> bytes:
    header = formats.HEADERS[ExportKind(config.kind)]
    return (header + "\n").encode() if header else b""


def _chunks_copy(config: ExportConfig, day: dt.date) -> Iterator[bytes]:
    """PostgreSQL: the file's bytes straight from COPY (nothing else runs on the connection meanwhile)."""
    yield _header(config)
    sql, names = formats.copy_sql(ExportKind(config.kind), config.identifier)
    start, end = _day_bounds(day)
    params = {"app_id": config.app_id, "day_start": start, "day_end": end}
    with connection.cursor() as cursor, cursor.cursor.copy(sql, [params[name] for name in names]) as copy:
        pending = bytearray()
        for chunk in copy:
            pending += chunk
            if len(pending) >= COPY_CHUNK:
                yield bytes(pending)
                pending.clear()
        if pending:
            yield bytes(pending)


def _chunks_portable(config: ExportConfig, day: dt.date) -> Iterator[bytes]:
    """Other databases: the same bytes, row by row through the reference formatters."""
    yield _header(config)
    identifier = config.identifier
    if config.kind == ExportKind.USERBASE:
        for row in Installation.objects.filter(app_id=config.app_id).order_by("id").iterator(chunk_size=2000):
            yield formats.userbase_line(
                custom_id=row.custom_id, identifier=getattr(row, identifier), push_optin=row.push_optin
            ).encode()
        return
    start, end = _day_bounds(day)
    model = PushEvent if config.kind == ExportKind.PUSH_EVENTS else InAppEvent
    events = (
        model.objects.filter(app_id=config.app_id, occurred_at__gte=start, occurred_at__lt=end)
        .select_related("installation")
        .order_by("occurred_at", "id")
        .iterator(chunk_size=2000)
    )
    for event in events:
        common = {"custom_id": event.custom_id, "identifier": getattr(event.installation, identifier),
                  "occurred_at": event.occurred_at, "type": event.type}  # fmt: skip
        if config.kind == ExportKind.PUSH_EVENTS:
            line = formats.push_line(**common, source=event.source, token=event.token, group_id=event.group_id)
        else:
            line = formats.inapp_line(**common, campaign_token=event.campaign_token,
                                      cta_position=event.cta_position, cta_action=event.cta_action)  # fmt: skip
        yield line.encode()


def _unfinished_discard(transport: Transport, *names: str) -> None:
    """Remove what an earlier attempt killed mid-write left of `names` (temporary files, unfinished uploads: never
    visible, but stored). Best effort: a destination that refuses to list them still gets the file."""
    for name in names:
        try:
            transport.discard_unfinished(name)
        except TransportError as error:
            logger.warning("export: leftovers of %s not removed (%s, %s)", name, error.code, error.error_class)


def utc_yesterday() -> dt.date:
    """The last UTC day that is over: what a daily export writes, and the latest day a backfill may ask."""
    return timezone.now().astimezone(dt.UTC).date() - dt.timedelta(days=1)


def export_file_name(config: ExportConfig, day: dt.date) -> str:
    app = config.app
    return formats.file_name(
        app_name=app.name, api_key=app.live_api_key, platform=app.platform, kind=ExportKind(config.kind), day=day
    )


def _requeued(*, forced: bool) -> dict:
    """A finished run queued again: a fresh start (attempts, times, outcome), so that its page and the retries
    count this run only; `heartbeat_at` says since when it waits (`runs_stuck`)."""
    return {
        "status": ExportRun.Status.QUEUED, "forced": forced, "attempts": 0, "started_at": None, "finished_at": None,
        "heartbeat_at": timezone.now(), "rows_done": 0, "rows": None, "bytes": None, "sha256": "", "manifest": {},
        "error": "", "error_class": "", "error_code": "",
    }  # fmt: skip


def export_run_ensure(config: ExportConfig, day: dt.date, *, forced: bool = False) -> tuple[ExportRun, bool]:
    """The run of (config, day), made once whatever calls it at the same time (a unique constraint); a forced
    re-run of a finished one queues the same row again. Returns (run, whether it is to be executed)."""
    with transaction.atomic():
        run, created = ExportRun.objects.get_or_create(config=config, day=day)
        if created:
            return run, True
        run = ExportRun.objects.select_for_update().get(pk=run.pk)
        if forced and run.is_finished:
            ExportRun.objects.filter(pk=run.pk).update(**_requeued(forced=True))
            run.refresh_from_db()
            return run, True
        return run, run.status == ExportRun.Status.QUEUED


def _transport(config: ExportConfig):
    destination = config.destination
    return transport_open(destination.kind, destination.transport_location(), destination.transport_credentials())


def export_run_execute(run: ExportRun, *, also: tuple[Run, ...] = ()) -> ExportRun:
    """Write the day's file of a claimed run through its destination's transport (visible only when whole), check
    its size there, write its manifest beside it, and record rows, bytes, sha256 and the manifest. A thread beats
    the run (and `also`: the backfill running it) and publishes its rows done while the file streams. A
    `TransportError` is recorded with its class and code and raised again (the caller retries transient ones)."""
    config = ExportConfig.objects.select_related("app", "destination__connector__partner").get(pk=run.config_id)
    name = export_file_name(config, run.day)
    rows = _rows_count(config, run.day)
    ExportRun.objects.filter(pk=run.pk).update(
        attempts=F("attempts") + 1, file_name=name, rows_total=rows, rows_done=0, error="", error_class="",
        error_code="",
    )  # fmt: skip
    run.refresh_from_db()
    lines = -1 if formats.HEADERS[ExportKind(config.kind)] else 0
    held = ExportRun.objects.filter(pk=run.pk, claimed_by=run.claimed_by, status=ExportRun.Status.RUNNING)
    with run_beating(run, *also, every=settings.EXPORT_BEAT_SECONDS) as beat:

        def progress(chunk: bytes) -> None:
            nonlocal lines
            lines += chunk.count(b"\n")  # a quoted line break counts too: progress only, the total is exact
            beat.done = max(0, min(lines, rows))
            if beat.lost:  # a transport lets its caller's stream errors through untouched, after cleaning up
                raise RunLost(f"export run {run.pk} was taken over")

        try:
            # closing: a write that fails midway leaves the COPY open on this connection, and the next query on it
            # would wait forever; closing the rows' generator cancels the COPY first (psycopg)
            with closing(_chunks(config, run.day)) as chunks, _transport(config) as transport:
                _unfinished_discard(transport, name, formats.manifest_name(name))
                stream = _CountingStream(chunks, on_chunk=progress)
                written = transport.write(name, stream)
                listed = {item.name: item.size for item in transport.list(name)}
                if written != stream.size or listed.get(name) not in (None, stream.size):
                    raise TransportError(
                        ErrorClass.TRANSIENT,
                        "size_mismatch",
                        f"The destination holds {listed.get(name)} bytes of {name}, not the {stream.size} written; "
                        "it will be written again.",
                    )
                if beat.lost:
                    raise RunLost(f"export run {run.pk} was taken over")
                manifest = {
                    "file": name, "rows": rows, "bytes": stream.size, "sha256": stream.sha256.hexdigest(),
                    "format_version": formats.FORMAT_VERSION,
                    "generated_at": timezone.now().isoformat(timespec="seconds"),
                }  # fmt: skip
                manifest_bytes = json.dumps(manifest, indent=2).encode() + b"\n"
                transport.write(formats.manifest_name(name), io.BytesIO(manifest_bytes))
        except TransportError as error:
            held.update(error=error.message, error_class=error.error_class.value, error_code=error.code[:40])
            raise
    recorded = held.update(
        rows=rows, rows_done=rows, bytes=stream.size, sha256=stream.sha256.hexdigest(), manifest=manifest
    )
    if not recorded:  # taken over while it wrote the manifest: the worker holding it now records its own
        raise RunLost(f"export run {run.pk} was taken over")
    run.refresh_from_db()
    return run


def _chunks(config: ExportConfig, day: dt.date) -> Iterator[bytes]:
    return (_chunks_copy if connection.vendor == "postgresql" else _chunks_portable)(config, day)


def export_day_unchanged(run: ExportRun) -> bool:
    """Whether a succeeded run's day, exported again now, would give the same file (name, rows and sha256, computed
    without writing anything) and that file is still at the destination with its size: what a backfill skips. A
    userbase has no history (its file is the userbase when it was written): a past day's is never written again
    with today's rows unless forced, only if its file is gone."""
    if run.status != ExportRun.Status.SUCCEEDED or not run.sha256:
        return False
    config = ExportConfig.objects.select_related("app", "destination__connector__partner").get(pk=run.config_id)
    if export_file_name(config, run.day) != run.file_name:
        return False
    if config.kind != ExportKind.USERBASE:
        if _rows_count(config, run.day) != run.rows:
            return False
        digest = hashlib.sha256()
        with closing(_chunks(config, run.day)) as chunks:
            for chunk in chunks:
                digest.update(chunk)
        if digest.hexdigest() != run.sha256:
            return False
    try:
        with _transport(config) as transport:
            listed = {item.name: item.size for item in transport.list(run.file_name)}
    except TransportError:
        return False  # the export will say what is wrong with the destination
    return listed.get(run.file_name) == run.bytes


# ---- outcome, failures and the daily dispatch ----------------------------------------------------------------


def export_run_complete(run: ExportRun, *, also: tuple[Run, ...] = ()) -> ExportRun:
    """Execute a claimed run and finish it; a success clears its config's count of failed days."""
    run = export_run_execute(run, also=also)
    run_finish(run)
    ExportConfig.objects.filter(pk=run.config_id).update(consecutive_failures=0)
    run.refresh_from_db()
    return run


def export_run_failed(run: ExportRun, error: TransportError) -> None:
    """Finish a run as failed with its classified error. After EXPORT_PAUSE_AFTER_FAILED_DAYS failed days in a row
    the config pauses itself, saying why and what to fix."""
    ExportRun.objects.filter(pk=run.pk).update(error_class=error.error_class.value, error_code=error.code[:40])
    run_finish(run, error=error.message)
    with transaction.atomic():
        config = ExportConfig.objects.select_for_update().get(pk=run.config_id)
        config.consecutive_failures += 1
        if config.consecutive_failures >= settings.EXPORT_PAUSE_AFTER_FAILED_DAYS and not config.paused_reason:
            config.paused_reason = (
                f"Paused after {config.consecutive_failures} failed days in a row. Last error: {error.message}"
            )[:300]
        config.save(update_fields=["consecutive_failures", "paused_reason", "updated_at"])


def export_configs_due():
    """Configs the daily dispatch runs: enabled, not paused, of a running connector, of a project not being deleted."""
    return ExportConfig.objects.filter(
        enabled=True, paused_reason="", connector__project__deleting_since__isnull=True
    ).exclude(connector__status=Connector.Status.PAUSED)


def exports_dispatch(day: dt.date | None = None) -> list[int]:
    """The runs of `day` (default: yesterday, UTC) to execute, one per due config (made once whoever asks)."""
    day = day or utc_yesterday()
    runs = []
    for config in export_configs_due().order_by("pk"):
        run, execute = export_run_ensure(config, day)
        if execute:
            runs.append(run.pk)
    return runs


BACKFILL_DAYS = 90  # how far back a backfill may go
PAUSED_CONNECTOR = "This connector is paused: nothing is exported until it is resumed on its page."


class BackfillRefused(ValueError):
    """A backfill that cannot be asked (its message is for the form)."""


def export_backfill_request(config: ExportConfig, first: dt.date, last: dt.date, *, force: bool = False,
                            actor=None, resume: bool = False) -> ExportBackfill:  # fmt: skip
    """Ask for the export of the days `first` to `last` (UTC, both included), done in order by a worker
    (`export_backfill_execute`). Refuses (BackfillRefused) a range that runs backwards, ends after yesterday or
    starts more than BACKFILL_DAYS ago, a second backfill while one of this config is under way, and any while the
    connector is paused."""
    yesterday = utc_yesterday()
    if first > last:
        raise BackfillRefused("The first day comes after the last one.")
    if last > yesterday:
        raise BackfillRefused(
            f"A day is exported once it is over: the last day can be {yesterday:%Y-%m-%d} at the latest."
        )
    if first < yesterday - dt.timedelta(days=BACKFILL_DAYS - 1):
        raise BackfillRefused(
            f"A backfill goes back {BACKFILL_DAYS} days at most: the first day can be "
            f"{yesterday - dt.timedelta(days=BACKFILL_DAYS - 1):%Y-%m-%d} at the earliest."
        )
    if config.connector.is_paused:  # its jobs wait: one asked now would only wait unseen
        raise BackfillRefused(PAUSED_CONNECTOR)
    try:
        with transaction.atomic():
            backfill = ExportBackfill.objects.create(
                config=config, first_day=first, last_day=last, forced=force, resume=resume, requested_by=actor,
                rows_total=(last - first).days + 1,
            )  # fmt: skip
            if actor is not None:
                connector = config.connector
                audit_record(
                    actor=actor, action=f"exportconfig.{'resume' if resume else 'backfill'}", obj=config,
                    object_repr=f"export {config.kind} by connector {connector.name}"[:200], project=connector.project,
                    changes={"first_day": str(first), "last_day": str(last), "forced": force},
                )  # fmt: skip
            return backfill
    except IntegrityError:
        raise BackfillRefused("A backfill of this export is under way: wait for it to finish.") from None


def backfill_label(backfill: ExportBackfill) -> str:
    what = "Resume" if backfill.resume else "Backfill"
    forced = " (forced)" if backfill.forced else ""
    return f"{what} {backfill.first_day:%Y-%m-%d} → {backfill.last_day:%Y-%m-%d}{forced}"


def backfill_detail(backfill: ExportBackfill) -> str:
    """What a backfill did so far, in words, with the day it works on while it runs."""
    done = f"{backfill.exported} exported, {backfill.unchanged} unchanged and skipped"
    if backfill.is_finished or backfill.rows_done >= (backfill.rows_total or 0):
        return done + "."
    return f"{done}; now {backfill.first_day + dt.timedelta(days=backfill.rows_done):%Y-%m-%d}."


def _day_claim(run: ExportRun, backfill: ExportBackfill) -> ExportRun | None:
    """The day's run, queued again if it was finished, claimed for the backfill; None while another worker holds
    it alive (the daily task, a Run now)."""
    ExportRun.objects.filter(pk=run.pk, status__in=[Run.Status.SUCCEEDED, Run.Status.FAILED]).update(
        **_requeued(forced=backfill.forced)
    )
    return run_claim(ExportRun, run.pk, claimer=f"{backfill.claimed_by}:day")


def _backfill_day_done(backfill: ExportBackfill, outcome: str) -> None:
    with transaction.atomic():
        ExportBackfill.objects.filter(pk=backfill.pk).update(**{outcome: F(outcome) + 1})
        run_progress(backfill, done=1)


def export_backfill_execute(backfill: ExportBackfill) -> int | None:
    """Export a claimed backfill's days in order from the first one not handled yet (a redelivered backfill goes on
    where the killed one stopped). A day whose file is unchanged and still there is skipped unless forced. Returns
    None once the backfill is finished (all done, or stopped at a day that failed), or the seconds to wait before
    going on after a temporary failure of a day (the caller releases the backfill and queues it again)."""
    config = backfill.config
    while True:
        backfill.refresh_from_db()
        day = backfill.first_day + dt.timedelta(days=backfill.rows_done)
        if day > backfill.last_day:
            run_finish(backfill)
            if backfill.resume or backfill.exported:
                ExportConfig.objects.filter(pk=config.pk).update(consecutive_failures=0)
            return None
        run, _ = ExportRun.objects.get_or_create(config=config, day=day)
        if run.status == Run.Status.SUCCEEDED and not backfill.forced and export_day_unchanged(run):
            _backfill_day_done(backfill, "unchanged")
            continue
        held = _day_claim(run, backfill)
        if held is None:  # another worker exports this day now: wait for it, then look again
            time.sleep(settings.EXPORT_BACKFILL_WAIT_SECONDS)
            run_progress(backfill)
            continue
        try:
            export_run_complete(held, also=(backfill,))
        except RunLost:
            continue  # the day was taken over by another worker: it finishes it; look again
        except SoftTimeLimitExceeded:
            run_release(held)
            raise
        except TransportError as error:
            held.refresh_from_db()
            if error.retryable and held.attempts < settings.EXPORT_ATTEMPTS:
                run_release(held)
                return settings.EXPORT_RETRY_SECONDS * 2 ** (held.attempts - 1)
            try:
                export_run_failed(held, error)
            except RunLost:
                continue  # the day was taken over meanwhile: its holder finishes it; look again
            run_finish(
                backfill,
                error=f"Stopped at {day:%Y-%m-%d}: {error.message} The days from {day:%Y-%m-%d} to "
                f"{backfill.last_day:%Y-%m-%d} were not exported; backfill them again once this is fixed.",
            )
            return None
        _backfill_day_done(backfill, "exported")


def export_days_missed(config: ExportConfig) -> tuple[dt.date, dt.date] | None:
    """The days a config missed, to yesterday (None if none): from the earlier of its first failed day and the day
    after its last success (days never run while the export or its connector was paused), at most BACKFILL_DAYS
    back. What Resume exports again, in order (the days done in between are skipped when unchanged)."""
    yesterday = utc_yesterday()
    earliest = yesterday - dt.timedelta(days=BACKFILL_DAYS - 1)
    runs = config.runs.filter(day__gte=earliest)
    starts = [runs.filter(status=ExportRun.Status.FAILED).order_by("day").values_list("day", flat=True).first()]
    succeeded = (
        config.runs.filter(status=ExportRun.Status.SUCCEEDED).order_by("-day").values_list("day", flat=True).first()
    )
    if succeeded is not None and succeeded < yesterday:
        starts.append(succeeded + dt.timedelta(days=1))
    starts = [day for day in starts if day is not None]
    if not starts:
        return None
    return max(min(starts), earliest), yesterday


def export_config_resume(config: ExportConfig, *, actor=None) -> ExportBackfill | None:
    """Clear a config's pause and export again, in order, every day it missed (a backfill, which the caller
    queues); None if it missed none or a backfill is under way already (it will carry on)."""
    missed = export_days_missed(config)
    ExportConfig.objects.filter(pk=config.pk).update(paused_reason="", consecutive_failures=0, enabled=True)
    if not missed:
        return None
    try:
        return export_backfill_request(config, *missed, actor=actor, resume=True)
    except BackfillRefused:
        return None


def exports_connector_resumed(connector: Connector, *, actor=None) -> tuple[list[int], list[int]]:
    """What a resumed connector's exports do again: the runs and backfills left waiting while it was paused, and a
    Resume (backfill) of each running export's missed days. Returns (run ids, backfill ids) to queue."""
    configs = export_configs_due().filter(connector=connector)
    waiting_runs = list(
        ExportRun.objects.filter(config__in=configs, status=Run.Status.QUEUED).values_list("pk", flat=True)
    )
    backfills = list(
        ExportBackfill.objects.filter(config__in=configs, status=Run.Status.QUEUED).values_list("pk", flat=True)
    )
    for config in configs.exclude(backfills__status__in=[Run.Status.QUEUED, Run.Status.RUNNING]):
        if backfill := export_config_resume(config, actor=actor):
            backfills.append(backfill.pk)
    return waiting_runs, backfills
