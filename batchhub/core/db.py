"""Small portable SQL helpers (PostgreSQL and SQLite) for hand-written statements on hot paths."""

from __future__ import annotations

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


def like_prefix_sql(vendor: str) -> str:
    """`LIKE %s` for a prefix escaped with like_prefix(); backslash is PostgreSQL's default escape."""
    return "LIKE %s" if vendor == "postgresql" else "LIKE %s ESCAPE '\\'"


def like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
