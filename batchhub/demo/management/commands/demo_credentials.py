"""python manage.py demo_credentials [--json]: the demo logins and the demo apps' keys."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from batchhub.demo.queries import DemoWorldMissing, demo_credentials


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> list[str]:
    cells = [[str(row[key] if row[key] is not None else "") for key, _ in columns] for row in rows]
    widths = [max([len(title)] + [len(line[i]) for line in cells]) for i, (_, title) in enumerate(columns)]
    lines = ["  ".join(title.ljust(width) for (_, title), width in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in cells]
    return lines


class Command(BaseCommand):
    help = "Print the demo logins per role and the demo apps' API keys, secrets shown (demo only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print a JSON document instead of tables"
        )

    def handle(self, *args, as_json: bool, **options) -> None:
        try:
            credentials = demo_credentials()
        except DemoWorldMissing as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps(credentials, indent=2))
            return
        self.stdout.write("Logins")
        logins = _table(
            credentials["logins"],
            [("role", "role"), ("username", "username"), ("password", "password"), ("partner", "partner")],
        )
        self.stdout.write("\n".join(logins))
        projects: dict[str, dict] = {}
        for app in credentials["apps"]:
            projects.setdefault(app["project"], app)
        for name, first in projects.items():
            self.stdout.write("")
            self.stdout.write(f"{name}")
            self.stdout.write(f"  project key       {first['project_key']}")
            self.stdout.write(f"  REST API key      {first['rest_api_key']}  (the company's: every app and project)")
            rows = [app for app in credentials["apps"] if app["project"] == name]
            self.stdout.write(
                "\n".join(
                    _table(
                        rows,
                        [
                            ("app", "app"),
                            ("platform", "platform"),
                            ("live_api_key", "live API key"),
                            ("sdk_api_key", "SDK API key"),
                        ],
                    )
                )
            )
