"""The daily export files, byte for byte as the integration guide shows them (DESIGN.md §5; seed 001): their names,
their rows, and the SQL that makes the same bytes with PostgreSQL's COPY.

Semicolon-separated, `\\n` line endings, UTF-8 without BOM, timestamps `YYYY-MM-DDTHH:MM:SS` in UTC. A value that
holds `;`, `"`, CR or LF is quoted per RFC 4180 (its quotes doubled); a value beginning with `=`, `+`, `-`, `@`, tab
or CR is neutralised against formula injection by a leading `'`. An absent value and an empty one are both written
as nothing (never `""`).

Two paths make the same bytes: `*_line` functions (the portable path, and the reference of the tests) and
`copy_sql` (PostgreSQL's `COPY (SELECT …) TO STDOUT`, the fast path), checked against each other by golden tests.
"""

from __future__ import annotations

import datetime as dt

from batchhub.connectors.models import ExportKind, Identifier, InAppEvent, PushEvent
from batchhub.profiles.models import Installation

FORMAT_VERSION = 1
DELIMITER = ";"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE_IF = (";", '"', "\r", "\n")
_NO_CAMPAIGN = ("push_optin", "push_optout", "token_deleted")  # rows that leave source, token and group empty


_FILE_KIND = {
    ExportKind.PUSH_EVENTS: "events",
    ExportKind.INAPP_EVENTS: "InAppevents",
    ExportKind.USERBASE: "userbase",
}
INAPP_HEADER = "user_id;identifier;date_event;event_type;event_var_1;event_var_2;event_var_3"
HEADERS = {ExportKind.PUSH_EVENTS: None, ExportKind.INAPP_EVENTS: INAPP_HEADER, ExportKind.USERBASE: None}


def file_name(*, app_name: str, api_key: str, platform: str, kind: ExportKind, day: dt.date) -> str:
    """`APPNAME-events_APIKEY@IOS_YYYY-MM-DD.csv` (`InAppevents`, `userbase`); the platform upper-case."""
    return f"{app_name}-{_FILE_KIND[ExportKind(kind)]}_{api_key}@{platform.upper()}_{day:%Y-%m-%d}.csv"


def manifest_name(csv_name: str) -> str:
    """The manifest beside a file: `…_YYYY-MM-DD.manifest.json`."""
    return csv_name.removesuffix(".csv") + ".manifest.json"


def cell(value: object) -> str:
    """One value as the files write it: neutralised, then quoted when it must be."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    if any(char in text for char in _QUOTE_IF):
        text = '"' + text.replace('"', '""') + '"'
    return text


def timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _line(values: list) -> str:
    return DELIMITER.join(cell(value) for value in values) + "\n"


def push_line(
    *,
    custom_id,
    identifier,
    occurred_at: dt.datetime,
    type: str,
    source,
    token,
    group_id,
) -> str:
    """`CUSTOM_USER_ID;INSTALLATION_ID;2017-07-24T09:00:00;push_opened;campaign;CAMPAIGN_TOKEN;` — campaign rows
    leave the group empty, transactional rows carry it, opt-in/opt-out/token_deleted rows leave all three empty."""
    if type in _NO_CAMPAIGN:
        source = token = group_id = None
    elif source != "transactional":
        group_id = None
    return _line([custom_id, identifier, timestamp(occurred_at), type, source, token, group_id])


def inapp_line(
    *, custom_id, identifier, occurred_at: dt.datetime, type: str, campaign_token, cta_position, cta_action
) -> str:
    """`CUSTOM_USER_ID;INSTALLATION_ID;2017-07-24T09:00:00;inapp_clicked;CAMPAIGN_TOKEN;1;batch.deeplink`; only
    clicks carry the CTA's position and action."""
    if type != "inapp_clicked":
        cta_position = cta_action = None
    return _line([custom_id, identifier, timestamp(occurred_at), type, campaign_token, cta_position, cta_action])


def userbase_line(*, custom_id, identifier, push_optin: bool) -> str:
    """`CUSTOM_USER_ID;ADVERTISING_ID;True` — an empty custom id for an anonymous installation."""
    return _line([custom_id, identifier, "True" if push_optin else "False"])


# ---- PostgreSQL: the same bytes from COPY ----------------------------------------------------------------------


def _sql_cell(expression: str) -> str:
    """`cell()` in SQL: NULL and '' both become NULL (COPY writes nothing for it), a formula start gets its `'`;
    COPY's CSV format does the quoting (a value holding the delimiter, a quote, CR or LF)."""
    value = f"NULLIF(({expression})::text, '')"
    return f"CASE WHEN left({value}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') THEN '''' || {value} ELSE {value} END"


def copy_sql(kind: ExportKind, identifier: Identifier) -> tuple[str, list[str]]:
    """`COPY (SELECT …) TO STDOUT` of one app's rows of one UTC day, in the files' bytes (without the in-app header),
    and the names of its parameters in order: app id, the day's start, the next day's start (userbase: app id)."""
    options = "(FORMAT csv, DELIMITER ';', QUOTE '\"', ESCAPE '\"', NULL '')"
    ident = f"installation.{Identifier(identifier).value}"
    stamp = "to_char(event.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
    if kind == ExportKind.PUSH_EVENTS:
        no_campaign = "event.type IN ('push_optin', 'push_optout', 'token_deleted')"
        columns = [
            "event.custom_id", ident, stamp, "event.type",
            f"CASE WHEN {no_campaign} THEN NULL ELSE event.source END",
            f"CASE WHEN {no_campaign} THEN NULL ELSE event.token END",
            f"CASE WHEN {no_campaign} OR event.source IS DISTINCT FROM 'transactional' THEN NULL "
            "ELSE event.group_id END",
        ]  # fmt: skip
        table = PushEvent._meta.db_table
    elif kind == ExportKind.INAPP_EVENTS:
        clicked = "event.type = 'inapp_clicked'"
        columns = [
            "event.custom_id", ident, stamp, "event.type", "event.campaign_token",
            f"CASE WHEN {clicked} THEN event.cta_position::text END",
            f"CASE WHEN {clicked} THEN event.cta_action END",
        ]  # fmt: skip
        table = InAppEvent._meta.db_table
    else:
        columns = ["installation.custom_id", ident, "CASE WHEN installation.push_optin THEN 'True' ELSE 'False' END"]
        select = ", ".join(_sql_cell(column) for column in columns)
        sql = (
            f"COPY (SELECT {select} FROM {Installation._meta.db_table} installation WHERE installation.app_id = %s "
            f"ORDER BY installation.id) TO STDOUT WITH {options}"
        )
        return sql, ["app_id"]
    select = ", ".join(_sql_cell(column) for column in columns)
    sql = (
        f"COPY (SELECT {select} FROM {table} event JOIN {Installation._meta.db_table} installation "
        f"ON installation.id = event.installation_id "
        f"WHERE event.app_id = %s AND event.occurred_at >= %s AND event.occurred_at < %s "
        f"ORDER BY event.occurred_at, event.id) TO STDOUT WITH {options}"
    )
    return sql, ["app_id", "day_start", "day_end"]
