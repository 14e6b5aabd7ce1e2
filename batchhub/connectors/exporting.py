"""One export run: the rows of one config's UTC day streamed from the database into its destination, published only
when whole, with a manifest beside it (issue 13). The dispatcher, the worker task, the command and the screens
build on `export_run_ensure` and `export_run_execute`."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from batchhub.connectors import formats
from batchhub.connectors.models import Connector, ExportConfig, ExportKind, ExportRun, InAppEvent, PushEvent
from batchhub.core.jobs.runs import run_finish
from batchhub.core.storage.base import ErrorClass, Transport, TransportError, transport_open
from batchhub.profiles.models import Installation

logger = logging.getLogger(__name__)

COPY_CHUNK = 256 * 1024


class _CountingStream(io.RawIOBase):
    """The bytes of an iterator of chunks as a readable stream, with their sha256 and size as they pass."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._pending = chunks, b""
        self.sha256, self.size = hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
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


def export_file_name(config: ExportConfig, day: dt.date) -> str:
    app = config.app
    return formats.file_name(
        app_name=app.name, api_key=app.live_api_key, platform=app.platform, kind=ExportKind(config.kind), day=day
    )


def export_run_ensure(config: ExportConfig, day: dt.date, *, forced: bool = False) -> tuple[ExportRun, bool]:
    """The run of (config, day), made once whatever calls it at the same time (a unique constraint); a forced
    re-run of a finished one queues the same row again. Returns (run, whether it is to be executed)."""
    with transaction.atomic():
        run, created = ExportRun.objects.get_or_create(config=config, day=day)
        if created:
            return run, True
        run = ExportRun.objects.select_for_update().get(pk=run.pk)
        if forced and run.is_finished:
            run.status, run.forced, run.error, run.error_class = ExportRun.Status.QUEUED, True, "", ""
            run.save(update_fields=["status", "forced", "error", "error_class"])
            return run, True
        return run, run.status == ExportRun.Status.QUEUED


def export_run_execute(run: ExportRun) -> ExportRun:
    """Write the day's file of a claimed run through its destination's transport (visible only when whole), check
    its size there, write its manifest beside it, and record rows, bytes and sha256. A `TransportError` is recorded
    with its class and raised again (the caller retries transient ones)."""
    config = ExportConfig.objects.select_related("app", "destination__connector__partner").get(pk=run.config_id)
    destination = config.destination
    name = export_file_name(config, run.day)
    rows = _rows_count(config, run.day)
    ExportRun.objects.filter(pk=run.pk).update(attempts=run.attempts + 1, file_name=name, rows_total=rows)
    chunks = _chunks_copy if connection.vendor == "postgresql" else _chunks_portable
    stream = _CountingStream(chunks(config, run.day))
    try:
        with transport_open(
            destination.kind, destination.transport_location(), destination.transport_credentials()
        ) as transport:
            _unfinished_discard(transport, name, formats.manifest_name(name))
            written = transport.write(name, stream)
            listed = {item.name: item.size for item in transport.list(name)}
            if written != stream.size or listed.get(name) not in (None, stream.size):
                raise TransportError(
                    ErrorClass.TRANSIENT,
                    "size_mismatch",
                    f"The destination holds {listed.get(name)} bytes of {name}, not the {stream.size} written; "
                    "it will be written again.",
                )
            manifest = {
                "file": name, "rows": rows, "bytes": stream.size, "sha256": stream.sha256.hexdigest(),
                "format_version": formats.FORMAT_VERSION, "generated_at": timezone.now().isoformat(timespec="seconds"),
            }  # fmt: skip
            transport.write(formats.manifest_name(name), io.BytesIO(json.dumps(manifest, indent=2).encode() + b"\n"))
    except TransportError as error:
        ExportRun.objects.filter(pk=run.pk).update(error=error.message, error_class=error.error_class.value)
        raise
    ExportRun.objects.filter(pk=run.pk).update(
        rows=rows, rows_done=rows, bytes=stream.size, sha256=stream.sha256.hexdigest(), error="", error_class=""
    )
    run.refresh_from_db()
    return run


# ---- outcome, failures and the daily dispatch ----------------------------------------------------------------


def export_run_complete(run: ExportRun) -> ExportRun:
    """Execute a claimed run and finish it; a success clears its config's count of failed days."""
    run = export_run_execute(run)
    run_finish(run)
    ExportConfig.objects.filter(pk=run.config_id).update(consecutive_failures=0)
    run.refresh_from_db()
    return run


def export_run_failed(run: ExportRun, error: TransportError) -> None:
    """Finish a run as failed with its classified error. After EXPORT_PAUSE_AFTER_FAILED_DAYS failed days in a row
    the config pauses itself, saying why and what to fix."""
    ExportRun.objects.filter(pk=run.pk).update(error_class=error.error_class.value)
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
    day = day or (timezone.now().astimezone(dt.UTC).date() - dt.timedelta(days=1))
    runs = []
    for config in export_configs_due().order_by("pk"):
        run, execute = export_run_ensure(config, day)
        if execute:
            runs.append(run.pk)
    return runs


BACKFILL_DAYS = 90  # how far back a backfill may go


def export_backfill(config: ExportConfig, first: dt.date, last: dt.date, *, force: bool = False) -> list[int]:
    """The runs of the days `first` to `last` (UTC, both included, in order) to execute; a day already exported is
    skipped unless `force`. Refuses (ValueError, with a message for the form) a range that ends after yesterday,
    starts more than BACKFILL_DAYS ago, or runs backwards."""
    yesterday = timezone.now().astimezone(dt.UTC).date() - dt.timedelta(days=1)
    if first > last:
        raise ValueError("The first day comes after the last one.")
    if last > yesterday:
        raise ValueError(f"A day is exported once it is over: the last day can be {yesterday:%Y-%m-%d} at the latest.")
    if first < yesterday - dt.timedelta(days=BACKFILL_DAYS - 1):
        raise ValueError(f"A backfill goes back {BACKFILL_DAYS} days at most.")
    runs = []
    day = first
    while day <= last:
        run, execute = export_run_ensure(config, day, forced=force)
        if execute:
            runs.append(run.pk)
        day += dt.timedelta(days=1)
    return runs


def export_days_missed(config: ExportConfig) -> tuple[dt.date, dt.date] | None:
    """The days a paused config missed, from its first failed day since its last success to yesterday (None if
    none): what Resume exports again, in order."""
    yesterday = timezone.now().astimezone(dt.UTC).date() - dt.timedelta(days=1)
    runs = config.runs.order_by("day")
    succeeded = runs.filter(status=ExportRun.Status.SUCCEEDED).order_by("-day").values_list("day", flat=True).first()
    failed = runs.filter(status=ExportRun.Status.FAILED)
    if succeeded is not None:
        failed = failed.filter(day__gt=succeeded)
    first = failed.values_list("day", flat=True).first()
    if first is None:
        return None
    return max(first, yesterday - dt.timedelta(days=BACKFILL_DAYS - 1)), yesterday


def export_config_resume(config: ExportConfig) -> list[int]:
    """Clear a config's pause and export again, in order, every day it missed; the runs to execute."""
    missed = export_days_missed(config)
    ExportConfig.objects.filter(pk=config.pk).update(paused_reason="", consecutive_failures=0, enabled=True)
    return export_backfill(config, *missed, force=True) if missed else []
