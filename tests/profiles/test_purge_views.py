"""The purge seen before it runs: the project page's panel, the preview of a shorter period and its confirmation,
the runs' history."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from dateutil.relativedelta import relativedelta
from django.urls import reverse
from django.utils import timezone

from batchhub.core.jobs.schedules import schedule_next_run
from batchhub.core.models import AuditEvent
from batchhub.profiles.models import Profile, PurgeRun
from batchhub.profiles.queries import PURGE_TASK
from batchhub.projects.models import Project
from tests.factories import ProfileFactory

pytestmark = pytest.mark.portable


@pytest.fixture
def aged(project):
    """Profiles of `project` last active 2, 5, 8, 11 and 14 months ago (two of each), and one long-gone."""
    now = timezone.now()
    made = {}
    for months in (2, 5, 8, 11, 14):
        made[months] = [
            ProfileFactory(project=project, last_activity_at=now - dt.timedelta(days=months * 30.4 + 3))
            for _ in range(2)
        ]
    made[40] = [ProfileFactory(project=project, last_activity_at=now - dt.timedelta(days=40 * 30.4))]
    return made


def _url(name: str, project) -> str:
    return reverse(f"profiles:{name}", kwargs={"code": project.code})


def _text(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.text).split())


def test_the_panel_shows_what_the_next_run_deletes_the_chart_the_sample_and_the_runs(client, csm, project, aged):
    PurgeRun.objects.create(project=project, day=dt.date(2026, 1, 5), inactivity_months=13, cutoff=timezone.now(),
                            status=PurgeRun.Status.SUCCEEDED, rows_total=4, rows_done=4, batches=1,
                            deleted={"profiles.events": 12}, longest_transaction_ms=37)  # fmt: skip
    client.force_login(csm)
    response = client.get(_url("purge_panel", project), headers={"HX-Request": "true"})
    assert response.status_code == 200
    forecast = response.context["forecast"]
    assert forecast.deleted_next_run == 3  # 14 and 40 months: the 13-month cutoff is before 2, 5, 8 and 11
    assert [days for days, _ in forecast.falling_out] == [7, 30, 90]
    assert {p.pk for p in forecast.sample} == {p.pk for p in aged[14] + aged[40]}
    assert forecast.sample[0].pk == aged[40][0].pk  # oldest first
    html = response.text
    assert 'data-testid="cutoff-line"' in html and 'data-testid="proposed-line"' not in html
    assert html.count('class="bar bar-gone"') >= 1 and 'class="bar bar-kept"' in html
    for profile in aged[14]:
        assert reverse("profiles:detail", kwargs={"code": project.code, "profile_code": profile.code}) in html
    text = _text(response)
    assert "3 deleted by the next run" in text
    assert "2026-01-05 Succeeded 13 mo" in text and "37 ms" in text
    assert "Next run:" in text  # the daily schedule the migration added
    assert "Preview a shorter period" in text
    assert "Profiles by month of last activity (11 in all)" in html


def test_the_panel_counts_what_falls_out_in_the_next_days(client, csm, project):
    next_run = schedule_next_run(PURGE_TASK)  # within a day: the daily schedule the migration added
    cutoff_next = next_run - relativedelta(months=13)
    ProfileFactory(project=project, last_activity_at=cutoff_next - dt.timedelta(minutes=5))  # the next run's
    ProfileFactory(project=project, last_activity_at=cutoff_next + dt.timedelta(days=3))  # within 7 days
    ProfileFactory(project=project, last_activity_at=cutoff_next + dt.timedelta(days=50))  # within 90 days
    ProfileFactory(project=project, last_activity_at=timezone.now() - dt.timedelta(days=100))
    client.force_login(csm)
    forecast = client.get(_url("purge_panel", project)).context["forecast"]
    assert forecast.next_run_at == next_run and forecast.cutoff == cutoff_next
    assert forecast.deleted_next_run == 1
    assert dict(forecast.falling_out) == {7: 1, 30: 1, 90: 2}


def test_the_panel_is_for_staff_and_only_a_csm_may_shorten(client, privacy_admin, partner_user, project, aged):
    client.force_login(privacy_admin)
    response = client.get(_url("purge_panel", project))
    assert response.status_code == 200 and "Preview a shorter period" not in response.text
    assert client.get(_url("purge_shorten_preview", project), {"months": 6}).status_code == 404
    client.force_login(partner_user)
    assert client.get(_url("purge_panel", project)).status_code == 404
    assert 'id="panel-purge"' not in client.get(reverse("projects:detail", kwargs={"code": project.code})).text


def test_shortening_shows_its_effect_then_takes_a_confirmation_naming_the_number(client, csm, project, aged):
    client.force_login(csm)
    preview = client.get(_url("purge_shorten_preview", project), {"months": 6})
    assert preview.status_code == 200
    proposed = preview.context["proposed"]
    assert proposed.deleted_next_run == 7  # 8, 11, 14 and 40 months
    text = _text(preview)
    assert "would delete 7 profiles" in text and "That is 4 more than with 13 months (3)" in text
    assert "Type 7 to confirm" in text
    assert 'data-testid="proposed-line"' in preview.text and 'class="bar bar-newly"' in preview.text
    assert Project.objects.get(pk=project.pk).inactivity_months_next is None  # a preview changes nothing

    wrong = client.post(_url("purge_shorten", project), {"months": 6, "confirm": 3})
    assert wrong.status_code == 400
    assert "The next run would delete 7 profiles: type 7 to confirm." in _text(wrong)
    assert Project.objects.get(pk=project.pk).inactivity_months_next is None

    done = client.post(_url("purge_shorten", project), {"months": 6, "confirm": 7})
    assert done.status_code == 302 and done["Location"].endswith("#panel-purge")
    project.refresh_from_db()
    assert (project.inactivity_months, project.inactivity_months_next) == (13, 6)
    assert Profile.objects.filter(project=project).count() == 11  # nothing deleted now
    audit = AuditEvent.objects.get(action="project.inactivity_shorten")
    assert audit.changes["profiles_deleted_at_next_run"] == [None, 7] and audit.actor == csm
    page = client.get(reverse("projects:detail", kwargs={"code": project.code}), follow=True)
    assert "The inactivity period becomes 6 months at the next purge run, which deletes 7 profiles." in _text(page)
    panel = client.get(_url("purge_panel", project))
    assert panel.context["forecast"].deleted_next_run == 7 and 'data-testid="pending-period"' in panel.text


def test_a_waiting_shorter_period_can_be_cancelled_from_the_panel(client, csm, project, aged):
    client.force_login(csm)
    client.post(_url("purge_shorten", project), {"months": 6, "confirm": 7})
    response = client.post(_url("purge_shorten_cancel", project), follow=True)
    assert "The shorter period (6 months) is cancelled: nothing was deleted by it." in _text(response)
    project.refresh_from_db()
    assert project.inactivity_months_next is None
    assert AuditEvent.objects.filter(action="project.inactivity_cancel").count() == 1


@pytest.mark.parametrize(
    ("months", "message"),
    [
        ("13", "Ensure this value is less than or equal to 12."),
        ("0", "Ensure this value is greater than or equal to 1."),
        ("six", "Enter a whole number."),
        ("", "This field is required."),
    ],
)
def test_a_period_that_is_not_shorter_is_refused_with_a_message(client, csm, project, months, message):
    client.force_login(csm)
    response = client.get(_url("purge_shorten_preview", project), {"months": months})
    assert response.status_code == 400 and message in _text(response)


def test_a_period_must_be_shorter_than_the_one_waiting(client, csm, project, aged):
    client.force_login(csm)
    client.post(_url("purge_shorten", project), {"months": 6, "confirm": 7})
    response = client.get(_url("purge_shorten_preview", project), {"months": 9})
    assert response.status_code == 400
    assert "The inactivity period can only be shortened: it is 6 months, so choose fewer than 6." in _text(response)
    assert client.post(_url("purge_shorten", project), {"months": 9, "confirm": 3}).status_code == 400
    assert client.post(_url("purge_shorten", project), {"confirm": 3}).status_code == 400


def test_a_one_month_period_reads_one_month(client, csm, project):
    client.force_login(csm)
    client.post(_url("purge_shorten", project), {"months": 1, "confirm": 0})
    page = client.get(reverse("projects:detail", kwargs={"code": project.code}), follow=True)
    assert "The inactivity period becomes 1 month at the next purge run" in _text(page)
    assert "1 months" not in _text(page)


def test_the_history_lists_every_run_newest_first(client, csm, project):
    for day in (3, 1, 2):
        PurgeRun.objects.create(project=project, day=dt.date(2026, 5, day), inactivity_months=13,
                                cutoff=timezone.now(), status=PurgeRun.Status.SUCCEEDED, rows_done=day)  # fmt: skip
    client.force_login(csm)
    text = _text(client.get(_url("purge_history", project)))
    assert text.index("2026-05-03") < text.index("2026-05-02") < text.index("2026-05-01")


@pytest.mark.parametrize(
    "body",
    [
        "months=6%00&confirm=0",
        "months=%ED%A0%80&confirm=0",  # a lone surrogate, as a browser could send its bytes
        "months=6&confirm=" + "9" * 400,
        "months=6&confirm=-1",
        "months=1e3&confirm=0",
        "months%00=6&confirm%ED%A0%80=0",
        "",
    ],
)
def test_hostile_input_gets_a_400_and_changes_nothing(client, csm, project, body):
    client.force_login(csm)
    response = client.post(_url("purge_shorten", project), body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    months = body.split("&")[0].split("=", 1)[-1] if body.startswith("months=") else ""
    if months != "6":  # the preview's own field: refused as well
        assert client.get(f"{_url('purge_shorten_preview', project)}?months={months}").status_code == 400
    project.refresh_from_db()
    assert project.inactivity_months_next is None
    assert not AuditEvent.objects.filter(action="project.inactivity_shorten").exists()
