"""Moving the test database's schema to given migrations, for tests of data migrations."""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader


def migrate_to(targets: list[tuple[str, str]]):
    """Migrate (forwards or backwards) to `targets`; returns the historical apps of that state."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest() -> list[tuple[str, str]]:
    """The last migration of every app: where a test that moved the schema must leave it (later tests, and the
    flush between them, expect every table of today's models)."""
    return MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes()
