"""Bulk writers: PostgreSQL COPY, or bulk_create batches on the portable path (SQLite); JSON columns as text.

Both sinks take rows as tuples in the order of a column list and reserve primary keys up front, so the
rows that point at profiles or installations can be generated before their parents' COPY has finished.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import islice

from django.db import connection, models

BULK_CREATE_BATCH = 2_000


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


class PostgresSink:
    """COPY … FROM STDIN through psycopg 3; ids come from the table's own identity sequence."""

    def reserve_ids(self, model: type[models.Model], count: int) -> list[int]:
        """`count` fresh ids from the table's sequence; nextval() is safe against concurrent inserts."""
        if count == 0:
            return []
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [model._meta.db_table])
            (sequence,) = cursor.fetchone()
            cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, count])
            return [pk for (pk,) in cursor.fetchall()]

    def write(self, model: type[models.Model], columns: tuple[str, ...], rows: Iterable) -> int:
        """Stream `rows` into the table; nothing else may run on the connection until the COPY ends."""
        names = ", ".join(connection.ops.quote_name(c) for c in columns)
        written = 0
        with connection.cursor() as cursor, cursor.copy(f"COPY {_table(model)} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                written += 1
        return written

    def analyze(self, tables: Iterable[type[models.Model]]) -> None:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE " + ", ".join(_table(model) for model in tables))


class PortableSink:
    """bulk_create in batches, for SQLite; ids are reserved above the table's current maximum.

    The caller holds a write transaction (BatchHub opens SQLite transactions IMMEDIATE), so no other writer
    can take the same ids between the reservation and the insert.
    """

    def reserve_ids(self, model: type[models.Model], count: int) -> list[int]:
        if count == 0:
            return []
        top = model.objects.aggregate(top=models.Max("pk"))["top"] or 0
        return list(range(top + 1, top + 1 + count))

    def write(self, model: type[models.Model], columns: tuple[str, ...], rows: Iterable) -> int:
        fields = {f.column: f for f in model._meta.concrete_fields}
        attnames = [fields[c].attname for c in columns]
        json_positions = [i for i, c in enumerate(columns) if isinstance(fields[c], models.JSONField)]
        written = 0
        iterator = iter(rows)
        while batch := list(islice(iterator, BULK_CREATE_BATCH)):
            objects = []
            for row in batch:
                values = list(row)
                for i in json_positions:
                    values[i] = json.loads(values[i])
                objects.append(model(**dict(zip(attnames, values, strict=True))))
            model.objects.bulk_create(objects)
            written += len(objects)
        return written

    def analyze(self, tables: Iterable[type[models.Model]]) -> None:
        """SQLite plans well enough for a demo without fresh statistics."""


def sink_for_connection() -> PostgresSink | PortableSink:
    return PostgresSink() if connection.vendor == "postgresql" else PortableSink()


def insert_one(obj: models.Model) -> None:
    """INSERT one new row, for a hot path that writes a large value (an API call's body, say).

    On PostgreSQL the values travel apart from the statement (server-side binding): Django's cursors quote
    them into the SQL text, which for a 150 KB value costs more than the insert itself. Elsewhere, `save()`.
    """
    if connection.vendor != "postgresql":
        obj.save(force_insert=True)
        return
    import psycopg

    meta = obj._meta
    fields = [f for f in meta.concrete_fields if not (f.primary_key and getattr(obj, f.attname) is None)]
    for field in fields:
        field.pre_save(obj, add=True)
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    values = [f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields]
    pk = connection.ops.quote_name(meta.pk.column)
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(f"INSERT INTO {_table(type(obj))} ({names}) VALUES ({marks}) RETURNING {pk}", values)
        obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = connection.alias
