"""The purge of inactive profiles: a project's profiles with no activity for its period go, daily.

One run per project and UTC day (`PurgeRun`, unique): beat, the `profiles_purge` command and a CSM meet on it. The
run is created with its cutoff (now minus the period, calendar months: `purge_rule`), applying first a shorter period
that was waiting for it. It deletes in batches, oldest activity first: each batch is one short transaction that
locks its profiles (skipping those an API call holds: they are being made active), deletes them through the deletion
registry (`core.data.deletions`, the purge's deleters: events, the installations' link, the profiles; app-centric
data stays) and records the counts and where it is with the run's progress. A killed worker leaves whole batches;
the run resumes from where the last committed batch stopped, with the same cutoff, so nothing is deleted twice or
skipped. On PostgreSQL each batch runs under `lock_timeout` and `statement_timeout`: a batch that waits on a lock
gives way (rolled back, retried smaller) rather than holding up the API.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from batchhub.core.audit.record import audit_record
from batchhub.core.data.deletions import profile_data_delete
from batchhub.core.jobs.runs import run_finish, run_progress
from batchhub.profiles.models import Profile, PurgeRun
from batchhub.profiles.purge_rule import purge_cutoff
from batchhub.projects.models import Project
from batchhub.projects.services import inactivity_months_in_force, project_inactivity_apply

logger = logging.getLogger(__name__)

LOCK_TIMEOUT_MS = 500  # a batch waiting longer than this on a row an API call holds gives way
STATEMENT_TIMEOUT_MS = 10_000
GIVE_WAY_ATTEMPTS = 8  # batches in a row that may give way before the run fails (the next day's run goes on)
SWEEPS = 3  # passes over profiles skipped because they were locked, once the scan has reached the cutoff


def utc_day(at: dt.datetime | None = None) -> dt.date:
    return (at or timezone.now()).astimezone(dt.UTC).date()


@dataclass(frozen=True)
class PurgeOutlook:
    """What a purge would do now (a dry run), by the rule in force (a waiting shorter period included)."""

    project: Project
    inactivity_months: int
    cutoff: dt.datetime
    eligible: int


def purge_outlook(project: Project, *, now: dt.datetime | None = None) -> PurgeOutlook:
    months = inactivity_months_in_force(project)
    cutoff = purge_cutoff(months, now=now)
    eligible = Profile.objects.filter(project=project, last_activity_at__lt=cutoff).count()
    return PurgeOutlook(project, months, cutoff, eligible)


def purge_run_for_day(
    project: Project, *, day: dt.date | None = None, via: str = PurgeRun.Via.SCHEDULE, started_by=None
) -> tuple[PurgeRun, bool]:
    """The project's run of `day` (today, UTC) and whether it was created now. Creating it applies a shorter period
    waiting for it and fixes its cutoff; a second call the same day finds it (safe to run twice)."""
    day = day or utc_day()
    existing = PurgeRun.objects.filter(project=project, day=day).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            months = project_inactivity_apply(project.pk)
            run = PurgeRun.objects.create(
                project=project,
                day=day,
                inactivity_months=months,
                cutoff=purge_cutoff(months, now=timezone.now()),
                started_via=via,
                started_by=started_by,
            )
            if started_by is not None:
                audit_record(actor=started_by, action="purge.start", obj=run, project=project)
    except IntegrityError:  # created by another process meanwhile
        return PurgeRun.objects.get(project=project, day=day), False
    return run, True


def purge_runs_superseded(*, before: dt.date) -> int:
    """Unfinished runs of earlier days whose task was lost: failed, since the day's run covers their profiles."""
    stale = PurgeRun.objects.filter(day__lt=before, status__in=[PurgeRun.Status.QUEUED, PurgeRun.Status.RUNNING])
    return stale.update(
        status=PurgeRun.Status.FAILED,
        finished_at=timezone.now(),
        error="Not finished on its day: a later day's run deleted its profiles.",
    )


def _eligible(run: PurgeRun):
    return Profile.objects.filter(project_id=run.project_id, last_activity_at__lt=run.cutoff)


def _batch_limits_set() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
                [f"{LOCK_TIMEOUT_MS}ms", f"{STATEMENT_TIMEOUT_MS}ms"],
            )


def _batch(run: PurgeRun, size: int) -> int:
    """Delete the next `size` eligible profiles (oldest activity first, from where the run is) with what the purge's
    deleters remove, and record it with the run's progress; the profiles deleted, 0 when none are left. Runs in the
    caller's transaction."""
    _batch_limits_set()
    rows = _eligible(run)
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
    )
    deleted = {table: run.deleted.get(table, 0) + rows for table, rows in counts.items()}
    PurgeRun.objects.filter(pk=run.pk).update(deleted=deleted, batches=F("batches") + 1, resume_from=picked[-1][2])
    run_progress(run, done=counts.get("profiles.profiles", 0))  # raises RunLost (undoing the batch) if taken over
    run.deleted, run.batches, run.resume_from = deleted, run.batches + 1, picked[-1][2]
    return len(picked)


def _gave_way(error: OperationalError) -> bool:
    """A batch stopped by its lock or statement timeout (PostgreSQL's lock_not_available and query_canceled)."""
    return getattr(getattr(error, "__cause__", None), "sqlstate", None) in ("55P03", "57014")


def purge_execute(run: PurgeRun, *, batch_rows: int | None = None) -> PurgeRun:
    """Delete the run's eligible profiles in batches, then finish it (audited). Resumes a run that was stopped."""
    size = batch_rows or settings.PURGE_BATCH_ROWS
    pause = settings.PURGE_BATCH_PAUSE_SECONDS
    if run.rows_total is None:
        run_progress(run, total=_eligible(run).count())
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
            PurgeRun.objects.filter(pk=run.pk).update(
                longest_transaction_ms=Greatest("longest_transaction_ms", took_ms)
            )
            run.longest_transaction_ms = took_ms
        if picked:
            if pause:
                time.sleep(pause)
            continue
        # The scan reached the cutoff; profiles it skipped (locked by an API call then) may still be eligible.
        if sweeps >= SWEEPS or run.resume_from is None or not _eligible(run).exists():
            break
        sweeps += 1
        PurgeRun.objects.filter(pk=run.pk).update(resume_from=None)
        run.resume_from = None
    left = _eligible(run).count()
    if left:
        logger.warning(
            "purge run %s: %s profiles stayed locked; the next run deletes them if still inactive", run.pk, left
        )
    run_finish(run)
    run.refresh_from_db()
    audit_record(
        actor=run.started_by,
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
