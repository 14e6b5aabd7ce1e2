"""Small portable SQL helpers (PostgreSQL and SQLite) for hand-written statements on hot paths."""

from __future__ import annotations

from django.db import connection

_FORMATS = {
    # name: (PostgreSQL to_char pattern, SQLite strftime pattern)
    # SQLite's patterns are doubled: these statements always take parameters, so "%" must be "%%".
    "minute": ("YYYY-MM-DD HH24:MI", "%%Y-%%m-%%d %%H:%%M"),
    "day": ("YYYY-MM-DD", "%%Y-%%m-%%d"),
}


def utc_text_sql(vendor: str, column: str, precision: str) -> str:
    """SQL that formats a timestamp column as UTC text, so Python never parses the datetime.

    For statements executed with parameters (the SQLite pattern has its "%" doubled).
    """
    postgres, sqlite = _FORMATS[precision]
    if vendor == "postgresql":
        return f"to_char({column} AT TIME ZONE 'UTC', '{postgres}')"
    return f"strftime('{sqlite}', {column})"


def prefix_match(vendor: str, column: str, text: str) -> tuple[str, str]:
    """A case-sensitive "starts with" condition and its parameter.

    PostgreSQL: LIKE (an index with varchar_pattern_ops serves it; backslash is its default escape).
    SQLite: GLOB, because its LIKE ignores case (and Django's lookups rely on that, so no pragma).
    """
    if vendor == "postgresql":
        return f"{column} LIKE %s", text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return f"{column} GLOB %s", "".join(f"[{c}]" if c in "*?[" else c for c in text) + "*"


def rows_delete(model, column: str, ids, **equal) -> int:
    """DELETE the rows of `model` whose `column` is one of `ids` (and whose other columns equal `equal`), in one
    statement that loads nothing: for deleters whose dependants are gone already. PostgreSQL takes the ids as one
    array (`= ANY`), SQLite as parameters. Returns the rows deleted."""
    ids = list(ids)
    if not ids:
        return 0
    quote = connection.ops.quote_name
    where = [f"{quote(name)} = %s" for name in equal]
    params: list = list(equal.values())
    if connection.vendor == "postgresql":
        where.append(f"{quote(column)} = ANY(%s)")
        params.append(ids)
    else:
        where.append(f"{quote(column)} IN ({', '.join(['%s'] * len(ids))})")
        params += ids
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {quote(model._meta.db_table)} WHERE {' AND '.join(where)}", params)
        return cursor.rowcount
