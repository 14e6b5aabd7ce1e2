"""The purge of inactive profiles: a project's profiles with no activity for its period go, daily.

Beat starts one run per project and UTC day (`PurgeRun`, unique among scheduled runs); the `profiles_purge` command
starts one of its own, or resumes an unfinished one. A run is created with its cutoff (now minus the period, in
calendar months: `purge_rule`), applying first a shorter period that was waiting for it. It starts once the API calls
accepted before it are applied (an accepted call is activity: its profile must not go before the call is applied).
It then deletes in batches, oldest activity first: each batch is one short transaction that locks its profiles
(skipping those an API call holds: they are being made active), deletes them through the deletion registry's purge
deleters (`core.data.deletions`: installations unlinked first, then events, then the profiles; app-centric data
stays) and records its counts and where it is with the run's progress. A killed worker leaves whole batches; the run
resumes from where the last committed batch stopped, with the same cutoff, so nothing is deleted twice or skipped.

On PostgreSQL each batch runs under `lock_timeout` (below the server's `deadlock_timeout` of 1 s, so that a batch
waiting on a row an API call holds gives way before the API call could be chosen as a deadlock's victim) and
`statement_timeout`; a batch that gives way is rolled back and retried smaller. While API calls wait to be applied,
the purge pauses after each batch for PURGE_YIELD_TO_API times the batch's time: it runs at full speed at night and
takes a small share of the database when the API is busy.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from batchhub.api.queries import calls_pending_accepted_before, calls_pending_any
from batchhub.api.tasks import api_calls_apply_soon
from batchhub.core.audit.record import audit_record
from batchhub.core.data.deletions import profile_data_delete
from batchhub.core.jobs.runs import RunLost, run_finish, run_progress, runs_stuck
from batchhub.profiles.models import PurgeRun
from batchhub.profiles.purge_rule import profiles_eligible, purge_cutoff
from batchhub.profiles.queries import chart_cache_key
from batchhub.projects.models import Project
from batchhub.projects.services import project_inactivity_apply

logger = logging.getLogger(__name__)

LOCK_TIMEOUT_MS = 500  # < deadlock_timeout (1 s): the batch, not the API call, gives way
STATEMENT_TIMEOUT_MS = 10_000
TARGET_TRANSACTION_MS = 300  # a batch's time the size adapts to (bench/purge.py: ~290 ms for 2,000 on an idle server)
GIVE_WAY_ATTEMPTS = 8  # batches in a row that may give way before the run fails (the next day's run goes on)
SWEEPS = 3  # passes over profiles skipped because they were locked, once the scan has reached the cutoff
# lock_not_available, query_canceled (statement timeout), deadlock_detected
GIVE_WAY_SQLSTATES = frozenset({"55P03", "57014", "40P01"})


class PurgeBacklog(Exception):
    """API calls accepted before the run are still waiting to be applied: purging now could delete their profiles."""


def utc_day(at: dt.datetime | None = None) -> dt.date:
    return (at or timezone.now()).astimezone(dt.UTC).date()


@dataclass(frozen=True)
class PurgeOutlook:
    """What a purge started now would delete (a dry run), by the period in force (a waiting shorter one included)."""

    project: Project
    inactivity_months: int
    cutoff: dt.datetime
    eligible: int


def purge_outlook(project: Project, *, now: dt.datetime | None = None) -> PurgeOutlook:
    months = project.inactivity_months_in_force
    cutoff = purge_cutoff(months, now=now)
    return PurgeOutlook(project, months, cutoff, profiles_eligible(project.pk, cutoff).count())


def _run_create(project: Project, *, day: dt.date, via: str) -> PurgeRun:
    """A queued run fixing its period and cutoff, in one transaction with applying the period waiting for it."""
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        months = locked.inactivity_months_in_force
        run = PurgeRun.objects.create(
            project=locked, day=day, inactivity_months=months, cutoff=purge_cutoff(months), started_via=via
        )
        project_inactivity_apply(locked.pk, run=run)
    return run


def purge_run_scheduled(project: Project, *, day: dt.date | None = None) -> tuple[PurgeRun, bool]:
    """The project's scheduled run of `day` (today, UTC) and whether it was created now; beat firing twice, or a
    task delivered twice, finds the first one."""
    day = day or utc_day()
    existing = PurgeRun.objects.filter(project=project, day=day, started_via=PurgeRun.Via.SCHEDULE).first()
    if existing is not None:
        return existing, False
    try:
        return _run_create(project, day=day, via=PurgeRun.Via.SCHEDULE), True
    except IntegrityError:  # created by another process meanwhile
        return PurgeRun.objects.get(project=project, day=day, started_via=PurgeRun.Via.SCHEDULE), False


def purge_run_now(project: Project) -> PurgeRun:
    """The run the command executes: the project's unfinished run if it has one (resumed), else a new one."""
    unfinished = PurgeRun.objects.filter(project=project, status__in=[PurgeRun.Status.QUEUED, PurgeRun.Status.RUNNING])
    return unfinished.order_by("created_at").first() or _run_create(project, day=utc_day(), via=PurgeRun.Via.COMMAND)


def purge_day_start(*, today: dt.date | None = None) -> list[int]:
    """Beat's daily step: unfinished runs of earlier days are failed (today's run covers their profiles), and every
    project gets today's scheduled run. Returns the ids of today's runs not finished (to queue)."""
    today = today or utc_day()
    stale = PurgeRun.objects.filter(day__lt=today, status__in=[PurgeRun.Status.QUEUED, PurgeRun.Status.RUNNING])
    stale.update(
        status=PurgeRun.Status.FAILED,
        finished_at=timezone.now(),
        error="Not finished on its day: a later day's run deleted its profiles.",
    )
    runs = []
    for project in Project.objects.filter(deleting_since__isnull=True).order_by("pk").iterator():
        run, _ = purge_run_scheduled(project, day=today)
        if not run.is_finished:
            runs.append(run.pk)
    return runs


def purge_runs_stuck() -> list[int]:
    """Runs whose task was lost (never delivered, or its worker died past its redeliveries): to queue again."""
    return list(runs_stuck(PurgeRun).values_list("pk", flat=True))


def _batch_limits_set() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Not waiting for the WAL flush at commit is safe: the batch's progress commits with its deletions, so a
            # crash that loses the one loses the other, and the resumed run does the batch again.
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true), "
                "set_config('synchronous_commit', 'off', true)",
                [f"{LOCK_TIMEOUT_MS}ms", f"{STATEMENT_TIMEOUT_MS}ms"],
            )


def _batch(run: PurgeRun, size: int) -> int:
    """Delete the next `size` eligible profiles (oldest activity first, from where the run is) with what the purge's
    deleters remove, and record it with the run's progress; the profiles deleted, 0 when none are left. Runs in the
    caller's transaction."""
    _batch_limits_set()
    rows = profiles_eligible(run.project_id, run.cutoff)
    if run.resume_from is not None:
        # up from the last batch's last activity: the index range starts past the profiles deleted before
        rows = rows.filter(last_activity_at__gte=run.resume_from)
    rows = rows.order_by("last_activity_at", "id").select_for_update(skip_locked=True, of=("self",))
    picked = list(rows.values_list("id", "custom_id", "last_activity_at")[:size])
    if not picked:
        return 0
    counts = profile_data_delete(
        run.project_id,
        profile_ids=[pk for pk, _, _ in picked],
        custom_ids=[custom_id for _, custom_id, _ in picked if custom_id],
        purge=True,
        resolved=True,  # both sides of each profile, read under its lock (saves a fifth of a batch's time)
    )
    run_progress(run, done=counts.get("profiles.profiles", 0))  # raises RunLost (undoing the batch) if taken over
    deleted = {table: run.deleted.get(table, 0) + rows for table, rows in counts.items()}
    PurgeRun.objects.filter(pk=run.pk).update(deleted=deleted, batches=F("batches") + 1, resume_from=picked[-1][2])
    run.deleted, run.batches, run.resume_from = deleted, run.batches + 1, picked[-1][2]
    return len(picked)


def _gave_way(error: OperationalError) -> bool:
    """A batch stopped by its lock or statement timeout, or chosen as a deadlock's victim."""
    return getattr(getattr(error, "__cause__", None), "sqlstate", None) in GIVE_WAY_SQLSTATES


def _backlog_wait(run: PurgeRun) -> None:
    """Return once the project's API calls accepted before the run are applied (the applier is asked to hurry);
    PurgeBacklog if that takes longer than PURGE_BACKLOG_WAIT_SECONDS. The run beats meanwhile."""
    deadline = time.monotonic() + settings.PURGE_BACKLOG_WAIT_SECONDS
    while pending := calls_pending_accepted_before(run.project_id, run.created_at):
        if time.monotonic() > deadline:
            raise PurgeBacklog(
                f"{pending:,} API calls accepted before the run were still waiting to be applied after "
                f"{settings.PURGE_BACKLOG_WAIT_SECONDS} s: nothing was deleted (their profiles may be active)"
            )
        api_calls_apply_soon(run.project_id, after_commit=False)
        run_progress(run)
        time.sleep(1)


def purge_execute(run: PurgeRun, *, batch_rows: int | None = None) -> PurgeRun:
    """Delete the run's eligible profiles in batches, then finish it (audited). Resumes a run that was stopped. A run
    that fails is audited too, and raises."""
    try:
        return _execute(run, batch_rows or settings.PURGE_BATCH_ROWS)
    except (RunLost, SoftTimeLimitExceeded):
        raise  # not a failure: another worker goes on with the run, or this one is queued again
    except Exception as exc:
        audit_record(actor=None, action="purge.fail", obj=run, project=run.project,
                     changes={"error": [None, f"{type(exc).__name__}: {exc}"[:500]]})  # fmt: skip
        raise


def _next_size(size: int, took_ms: int, *, most: int) -> int:
    """The next batch's size: halved after a batch over twice TARGET_TRANSACTION_MS (a busy database), grown back by a
    quarter up to `most` after one under it."""
    if took_ms > 2 * TARGET_TRANSACTION_MS:
        return max(size // 2, 50)
    if took_ms < TARGET_TRANSACTION_MS:
        return min(most, size + size // 4 + 1)
    return size


def _execute(run: PurgeRun, most: int) -> PurgeRun:
    pause = settings.PURGE_BATCH_PAUSE_SECONDS
    # on a busy database a full first batch ran 1.1 s, and a quarter of one 1.2 s (bench/purge.py): start at an
    # eighth, and grow if it is quick
    size = max(most // 8, 1) if calls_pending_any() else most
    _backlog_wait(run)
    if run.rows_total is None:
        run_progress(run, total=profiles_eligible(run.project_id, run.cutoff).count())
    sweeps = gave_way = 0
    while True:
        started = time.monotonic()
        try:
            with transaction.atomic():
                picked = _batch(run, size)
        except OperationalError as error:
            if not _gave_way(error) or gave_way >= GIVE_WAY_ATTEMPTS:
                raise
            gave_way += 1
            size = max(size // 2, 10)
            logger.info("purge run %s: a batch gave way to a lock (%s); retrying with %s profiles", run.pk, error, size)
            time.sleep(0.1 * gave_way)
            continue
        gave_way = 0
        took_ms = round((time.monotonic() - started) * 1000)
        if took_ms > run.longest_transaction_ms:
            longest = Greatest("longest_transaction_ms", took_ms)
            PurgeRun.objects.filter(pk=run.pk).update(longest_transaction_ms=longest)
            run.longest_transaction_ms = took_ms
        size = _next_size(size, took_ms, most=most)
        if picked:
            time.sleep(max(pause, took_ms / 1000 * settings.PURGE_YIELD_TO_API if calls_pending_any() else 0))
            continue
        # The scan reached the cutoff; profiles it skipped (locked by an API call then) may still be eligible.
        if sweeps >= SWEEPS or run.resume_from is None:
            break
        if not profiles_eligible(run.project_id, run.cutoff).exists():
            break
        sweeps += 1
        PurgeRun.objects.filter(pk=run.pk).update(resume_from=None)
        run.resume_from = None
    left = profiles_eligible(run.project_id, run.cutoff).count()
    if left:
        logger.warning(
            "purge run %s: %s profiles stayed locked; the next run takes them if still inactive", run.pk, left
        )
    run_finish(run)
    run.refresh_from_db()
    cache.delete(chart_cache_key(run.project))
    audit_record(
        actor=None,
        action="purge.finish",
        obj=run,
        project=run.project,
        changes={
            "cutoff": [None, run.cutoff.isoformat(timespec="seconds")],
            "inactivity_months": [None, run.inactivity_months],
            "profiles_deleted": [None, run.rows_done],
            "batches": [None, run.batches],
            "longest_transaction_ms": [None, run.longest_transaction_ms],
        },
    )
    return run
