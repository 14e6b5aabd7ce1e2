"""Small portable SQL helpers (PostgreSQL and SQLite)."""

from __future__ import annotations

from django.db import models

_FORMATS = {
    # name: (PostgreSQL to_char pattern, SQLite strftime pattern)
    "minute": ("YYYY-MM-DD HH24:MI", "%Y-%m-%d %H:%M"),
    "day": ("YYYY-MM-DD", "%Y-%m-%d"),
}


class UTCText(models.Func):
    """A timestamp formatted as UTC text by the database: hot lists skip parsing datetimes in Python."""

    output_field = models.CharField()

    def __init__(self, expression, *, precision: str = "minute", **extra):
        if precision not in _FORMATS:
            raise ValueError(f"precision must be one of {sorted(_FORMATS)}")
        self.precision = precision
        super().__init__(expression, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        pattern = _FORMATS[self.precision][0]
        return self.as_sql(
            compiler, connection, template=f"to_char(%(expressions)s AT TIME ZONE 'UTC', '{pattern}')", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):
        pattern = _FORMATS[self.precision][1]
        return self.as_sql(compiler, connection, template=f"strftime('{pattern}', %(expressions)s)", **extra)
