"""python manage.py exports_run [--day YYYY-MM-DD] [--config CODE] [--force] [--json]: a day's exports, now, through
the same service as the worker, one line per run."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from django.core.management.base import BaseCommand, CommandError, CommandParser

from batchhub.connectors.exporting import (
    export_configs_due,
    export_run_complete,
    export_run_ensure,
    export_run_failed,
    utc_yesterday,
)
from batchhub.connectors.models import ExportConfig, ExportRun
from batchhub.core.jobs.runs import run_claim
from batchhub.core.storage.base import TransportError


class Command(BaseCommand):
    help = "Run a day's exports now (default: yesterday, every enabled export config) and print one line per run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--day", help="the UTC day, YYYY-MM-DD (default: yesterday)")
        parser.add_argument("--config", help="only this export config (its code)")
        parser.add_argument("--force", action="store_true", help="export again a day already exported")
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON object per line")

    def handle(self, *args, day: str | None, config: str | None, force: bool, as_json: bool, **options) -> None:
        try:
            the_day = dt.date.fromisoformat(day) if day else utc_yesterday()
        except ValueError:
            raise CommandError(f"--day must be YYYY-MM-DD, not {day!r}") from None
        configs = export_configs_due()
        if config:
            try:
                configs = ExportConfig.objects.filter(code=uuid.UUID(config))
            except ValueError:
                raise CommandError(f"--config must be an export config's code, not {config!r}") from None
            if not configs.exists():
                raise CommandError(f"No export config has the code {config}.")
        failed = 0
        for export_config in configs.select_related("connector", "app").order_by("pk"):
            run, execute = export_run_ensure(export_config, the_day, forced=force)
            if execute and (claimed := run_claim(ExportRun, run.pk, claimer=f"command:{uuid.uuid4().hex[:8]}")):
                try:
                    run = export_run_complete(claimed)
                except TransportError as error:
                    export_run_failed(claimed, error)
                    run = ExportRun.objects.get(pk=run.pk)
            run.refresh_from_db()
            failed += run.status == ExportRun.Status.FAILED
            self._print(export_config, run, as_json=as_json)
        if failed:
            raise CommandError(f"{failed} export run(s) failed.")

    def _print(self, config: ExportConfig, run: ExportRun, *, as_json: bool) -> None:
        line = {
            "config": str(config.code), "connector": config.connector.name, "app": str(config.app), "kind": config.kind,
            "day": run.day.isoformat(), "file": run.file_name, "status": run.status, "rows": run.rows,
            "bytes": run.bytes, "sha256": run.sha256, "error": run.error,
        }  # fmt: skip
        if as_json:
            self.stdout.write(json.dumps(line))
        else:
            shown = run.error or f"{run.rows} rows, {run.bytes} bytes"
            self.stdout.write(f"{run.status:9} {config.kind:12} {line['app']:28} {run.file_name}  {shown}")
