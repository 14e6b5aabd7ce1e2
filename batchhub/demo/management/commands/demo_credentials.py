"""python manage.py demo_credentials [--json]: the demo logins and the demo apps' keys."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from batchhub.core.web.text import text_table
from batchhub.demo.queries import DemoWorldMissing, demo_credentials


class Command(BaseCommand):
    help = (
        "Print the demo logins per role, the demo apps' API keys and the partners' connectors with their keys, "
        "secrets shown (demo only)."
    )

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
        logins = text_table(
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
                    text_table(
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
        if credentials["connectors"]:
            self.stdout.write("")
            self.stdout.write("Partners' connectors (their own API keys: the connector's project and features only)")
            self.stdout.write(
                "\n".join(
                    text_table(
                        credentials["connectors"],
                        [
                            ("partner", "partner"),
                            ("project", "project"),
                            ("code", "connector code"),
                            ("api_key", "API key"),
                        ],
                    )
                )
            )
