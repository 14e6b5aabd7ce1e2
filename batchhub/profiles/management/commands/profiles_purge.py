"""python manage.py profiles_purge [--project CODE] [--dry-run] [--json]: purge inactive profiles now.

The same service as the daily worker task: a run of each project with the cutoff of now (or the project's
unfinished run, resumed). `--dry-run` changes nothing and counts what a purge would delete now.
"""

from __future__ import annotations

import json
import os
import socket
import uuid

from django.core.management.base import BaseCommand, CommandError, CommandParser

from batchhub.core.jobs.runs import RunLost, run_claim, run_finish
from batchhub.core.web.text import text_table
from batchhub.profiles.models import PurgeRun
from batchhub.profiles.purge import purge_execute, purge_outlook, purge_run_now
from batchhub.projects.models import Project

COLUMNS = [
    ("project", "project"),
    ("cutoff", "cutoff (UTC)"),
    ("eligible", "eligible"),
    ("deleted", "deleted"),
    ("batches", "batches"),
    ("longest_transaction_ms", "longest tx ms"),
    ("status", "status"),
]


class Command(BaseCommand):
    help = (
        "Purge the profiles inactive for their project's period now, through a purge run as the daily task does "
        "(a project's unfinished run is resumed first). With --json, one JSON object per project and line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", metavar="CODE", help="one project, by its code or slug (default: every one)")
        parser.add_argument("--dry-run", action="store_true", help="change nothing: count what would be deleted now")
        parser.add_argument("--json", action="store_true", dest="as_json", help="JSON lines instead of a table")

    def handle(self, *args, project: str | None, dry_run: bool, as_json: bool, **options) -> None:
        rows = [self._dry(each) if dry_run else self._purge(each) for each in _projects(project)]
        if as_json:
            for row in rows:
                self.stdout.write(json.dumps(row))
            return
        self.stdout.write("\n".join(text_table(rows, COLUMNS)))

    def _dry(self, project: Project) -> dict:
        outlook = purge_outlook(project)
        return _row(project, outlook.cutoff, outlook.inactivity_months, eligible=outlook.eligible, status="dry-run")

    def _purge(self, project: Project) -> dict:
        run = purge_run_now(project)
        claimed = run_claim(PurgeRun, run.pk, claimer=f"command:{socket.gethostname()}:{os.getpid()}")
        if claimed is None:
            run.refresh_from_db()
            return _run_row(run, status="running in a worker")
        try:
            run = purge_execute(claimed)
        except RunLost:
            run.refresh_from_db()
            return _run_row(run, status="taken over by a worker")
        except BaseException as exc:  # an interrupted command too: the run is failed, not left running
            run_finish(claimed, error=f"{type(exc).__name__}: {exc}")
            raise CommandError(f"the purge of {project.slug} failed: {type(exc).__name__}: {exc}") from exc
        return _run_row(run, status=run.status)


def _projects(wanted: str | None):
    projects = Project.objects.filter(deleting_since__isnull=True).order_by("slug")
    if wanted is None:
        return list(projects)
    try:
        named = projects.filter(code=uuid.UUID(wanted))
    except ValueError:
        named = projects.filter(slug=wanted)
    if not named:
        raise CommandError(f"no project has the code or slug {wanted!r}")
    return list(named)


def _row(project: Project, cutoff, months: int, *, eligible, deleted=0, batches=0, longest_ms=0, status: str) -> dict:
    return {
        "project": project.slug,
        "project_code": str(project.code),
        "inactivity_months": months,
        "cutoff": cutoff.isoformat(timespec="seconds"),
        "eligible": eligible,
        "deleted": deleted,
        "batches": batches,
        "longest_transaction_ms": longest_ms,
        "status": status,
    }


def _run_row(run: PurgeRun, *, status: str) -> dict:
    return {
        **_row(
            run.project,
            run.cutoff,
            run.inactivity_months,
            eligible=run.rows_total,
            deleted=run.rows_done,
            batches=run.batches,
            longest_ms=run.longest_transaction_ms,
            status=status,
        ),
        "run_id": run.pk,
        "deleted_per_table": run.deleted,
    }
