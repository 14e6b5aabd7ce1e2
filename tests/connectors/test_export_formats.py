"""The export files byte for byte: names, rows, quoting and formula neutralisation, on the guide's own examples
(tests/connectors/golden/, written from the integration guide, seed 001) and on hostile values; the PostgreSQL COPY
path writes the very same bytes as the portable path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.db import connection

from batchhub.connectors import formats
from batchhub.connectors.formats import ExportKind, Identifier
from tests.factories import AppFactory, InAppEventFactory, InstallationFactory, PushEventFactory

GOLDEN = Path(__file__).parent / "golden"
DAY = dt.date(2017, 7, 24)


def at(hour: int) -> dt.datetime:
    return dt.datetime(2017, 7, 24, hour, tzinfo=dt.UTC)


CID, IID = "CUSTOM_USER_ID", "BATCH_INSTALLATION_ID"
PUSH_ROWS = [
    (CID, IID, at(0), "push_sent", "campaign", "CAMPAIGN_TOKEN", None),
    (CID, IID, at(9), "push_opened", "campaign", "CAMPAIGN_TOKEN", "ignored for campaigns"),
    (CID, IID, at(9), "push_error", "campaign", "CAMPAIGN_TOKEN", None),
    (CID, IID, at(9), "push_sent", "transactional", "TRANSACTIONAL_TOKEN", "GROUP-ID"),
    (CID, IID, at(9), "push_error", "transactional", "TRANSACTIONAL_TOKEN", "GROUP-ID"),
    (CID, IID, at(9), "push_opened", "transactional", "TRANSACTIONAL_TOKEN", "GROUP-ID"),
    (CID, IID, at(9), "push_optin", "campaign", "left out", "left out"),
    (CID, IID, at(10), "push_optout", None, None, None),
    (CID, IID, at(11), "token_deleted", None, None, None),
    ("=cmd", "@SUM(A1)", at(12), "push_opened", "campaign", "tok;en", None),
]
INAPP_ROWS = [
    (CID, IID, at(9), "inapp_supplied", "CAMPAIGN_TOKEN", None, ""),
    (CID, IID, at(9), "inapp_shown", "CAMPAIGN_TOKEN", 3, "left out"),
    (CID, IID, at(9), "inapp_clicked", "CAMPAIGN_TOKEN", 0, "batch.CustomAction"),
    (CID, IID, at(9), "inapp_clicked", "CAMPAIGN_TOKEN", 1, "batch.deeplink"),
    (CID, IID, at(9), "inapp_clicked", "CAMPAIGN_TOKEN", 1, "batch.dismiss"),
    (CID, IID, at(9), "inapp_closed", "CAMPAIGN_TOKEN", None, ""),
    ('say "hi"', IID, at(10), "inapp_clicked", "CAMPAIGN_TOKEN", 2, "+open\nsite"),
]
USERBASE_ROWS = [
    ("CUSTOM_USER_ID1", "ADVERTISING_ID1", True),
    ("CUSTOM_USER_ID3", "ADVERTISING_ID3", False),
    (None, "ADVERTISING_ID6", False),
    ("-1", "\tTAB", True),
]


def _push(rows) -> bytes:
    keys = ("custom_id", "identifier", "occurred_at", "type", "source", "token", "group_id")
    return "".join(formats.push_line(**dict(zip(keys, row, strict=True))) for row in rows).encode()


def _inapp(rows) -> bytes:
    keys = ("custom_id", "identifier", "occurred_at", "type", "campaign_token", "cta_position", "cta_action")
    lines = [formats.INAPP_HEADER + "\n"] + [formats.inapp_line(**dict(zip(keys, row, strict=True))) for row in rows]
    return "".join(lines).encode()


def _userbase(rows) -> bytes:
    keys = ("custom_id", "identifier", "push_optin")
    return "".join(formats.userbase_line(**dict(zip(keys, row, strict=True))) for row in rows).encode()


@pytest.mark.portable
@pytest.mark.parametrize(
    ("kind", "make", "rows"),
    [("push_events", _push, PUSH_ROWS), ("inapp_events", _inapp, INAPP_ROWS), ("userbase", _userbase, USERBASE_ROWS)],
)
def test_each_kind_writes_the_golden_file_byte_for_byte(kind, make, rows):
    assert make(rows) == (GOLDEN / f"{kind}.csv").read_bytes()


@pytest.mark.portable
def test_file_names_follow_the_guide():
    name = formats.file_name(app_name="MyShop", api_key="ABC123", platform="ios", kind=ExportKind.PUSH_EVENTS, day=DAY)
    assert name == "MyShop-events_ABC123@IOS_2017-07-24.csv"
    assert formats.manifest_name(name) == "MyShop-events_ABC123@IOS_2017-07-24.manifest.json"
    inapp = formats.file_name(app_name="MyShop", api_key="K", platform="android", kind="inapp_events", day=DAY)
    assert inapp == "MyShop-InAppevents_K@ANDROID_2017-07-24.csv"
    userbase = formats.file_name(app_name="MyShop", api_key="K", platform="web", kind="userbase", day=DAY)
    assert userbase == "MyShop-userbase_K@WEB_2017-07-24.csv"


@pytest.mark.portable
@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"), ("+33", "'+33"), ("-5", "'-5"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "\"'\rx\""),
        ("a;b", '"a;b"'), ('a"b', '"a""b"'), ("a\nb", '"a\nb"'), ("=a;b", "\"'=a;b\""), ("", ""), (None, ""),
        ("plain", "plain"), ("é ü", "é ü"),
    ],
)  # fmt: skip
def test_cells_are_neutralised_then_quoted(value, written):
    assert formats.cell(value) == written


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(ExportKind))
def test_postgresql_copy_writes_the_same_bytes_as_the_portable_path(kind):
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    app = AppFactory(platform="ios")
    hostile = ["=cmd", "-1", "a;b", 'say "hi"', "x\ny", "", None, "\tTAB", "\rCR", "@SUM(A1)", "plain"]
    installations = [
        InstallationFactory(app=app, installation_id=f"inst-{n}", custom_id=value, advertising_id=hostile[-n - 1],
                            push_optin=n % 2 == 0)
        for n, value in enumerate(hostile)
    ]  # fmt: skip
    for n, installation in enumerate(installations):
        PushEventFactory(
            installation=installation,
            custom_id=installation.custom_id,
            occurred_at=at(n % 24),
            type=["push_sent", "push_optin", "push_opened"][n % 3],
            source=["transactional", "campaign", None][n % 3],
            token=hostile[n],
            group_id=hostile[-n - 1],
        )
        InAppEventFactory(
            installation=installation,
            custom_id=installation.custom_id,
            occurred_at=at(n % 24),
            type=["inapp_clicked", "inapp_shown"][n % 2],
            campaign_token=hostile[n] or "t",
            cta_position=n,
            cta_action=hostile[-n - 1] or "",
        )
    PushEventFactory(installation=installations[0], occurred_at=at(0) - dt.timedelta(seconds=1))  # the day before
    expected = _expected(kind, app)
    for identifier in Identifier:
        sql, names = formats.copy_sql(kind, identifier)
        params = {"app_id": app.pk, "day_start": at(0), "day_end": at(0) + dt.timedelta(days=1)}
        written = b"" if kind != ExportKind.INAPP_EVENTS else (formats.INAPP_HEADER + "\n").encode()
        with connection.cursor() as cursor, cursor.cursor.copy(sql, [params[name] for name in names]) as copy:
            written += b"".join(bytes(chunk) for chunk in copy)
        assert written == expected[identifier], kind


def _expected(kind, app) -> dict:
    """The portable path's bytes for the app's rows of the day, in the COPY's order."""
    from batchhub.connectors.models import InAppEvent, PushEvent
    from batchhub.profiles.models import Installation

    start, end = at(0), at(0) + dt.timedelta(days=1)
    out = {}
    for identifier in Identifier:
        if kind == ExportKind.USERBASE:
            rows = Installation.objects.filter(app=app).order_by("id")
            out[identifier] = "".join(
                formats.userbase_line(custom_id=row.custom_id, identifier=getattr(row, identifier.value),
                                      push_optin=row.push_optin) for row in rows
            ).encode()  # fmt: skip
            continue
        model = PushEvent if kind == ExportKind.PUSH_EVENTS else InAppEvent
        events = (
            model.objects.filter(app=app, occurred_at__gte=start, occurred_at__lt=end)
            .select_related("installation")
            .order_by("occurred_at", "id")
        )
        if kind == ExportKind.PUSH_EVENTS:
            lines = [
                formats.push_line(custom_id=e.custom_id, identifier=getattr(e.installation, identifier.value),
                                  occurred_at=e.occurred_at, type=e.type, source=e.source, token=e.token,
                                  group_id=e.group_id) for e in events
            ]  # fmt: skip
        else:
            lines = [formats.INAPP_HEADER + "\n"] + [
                formats.inapp_line(custom_id=e.custom_id, identifier=getattr(e.installation, identifier.value),
                                   occurred_at=e.occurred_at, type=e.type, campaign_token=e.campaign_token,
                                   cta_position=e.cta_position, cta_action=e.cta_action) for e in events
            ]  # fmt: skip
        out[identifier] = "".join(lines).encode()
    return out
