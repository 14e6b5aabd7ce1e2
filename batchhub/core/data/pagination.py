"""Keyset pagination with opaque, signed cursors (no offsets, no primary keys in URLs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core import signing
from django.db import connection

_SALT = "batchhub.cursor"


def cursor_encode(value: Any) -> str:
    return signing.dumps(value, salt=_SALT, compress=True)


def cursor_decode(token: str | None) -> Any | None:
    if not token:
        return None
    try:
        return signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None


@dataclass(frozen=True)
class Page:
    rows: list
    next_cursor: str | None


def keyset_page(queryset, *, key: str, cursor: str | None, size: int) -> Page:
    """Rows (models or `.values()` dicts) ordered by `key` descending, after the cursor.

    One extra row is fetched to know whether more follow.
    """
    after = cursor_decode(cursor)
    if after is not None:
        queryset = queryset.filter(**{f"{key}__lt": after})
    rows = list(queryset.order_by(f"-{key}")[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    if not has_more:
        return Page(rows=rows, next_cursor=None)
    last = rows[-1]
    return Page(rows=rows, next_cursor=cursor_encode(last[key] if isinstance(last, dict) else getattr(last, key)))


def estimated_count(queryset, *, exact_below: int = 10_000) -> tuple[int, bool]:
    """(count, is_estimate): exact up to `exact_below` (a bounded count), PostgreSQL's estimate above it."""
    bounded = queryset.order_by()[: exact_below + 1].count()
    if bounded <= exact_below:
        return bounded, False
    if connection.vendor == "postgresql":
        sql, params = queryset.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            import json

            plan = json.loads(plan)
        return max(int(plan[0]["Plan"]["Plan Rows"]), bounded), True
    return queryset.count(), False
