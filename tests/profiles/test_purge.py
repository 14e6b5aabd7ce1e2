"""The purge of inactive profiles, through its service, its tasks and its command."""

from __future__ import annotations

import calendar
import datetime as dt
import io
import json
from unittest import mock

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.management import CommandError, call_command
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from batchhub.core.jobs.runs import RunLost, run_claim
from batchhub.core.models import AuditEvent
from batchhub.profiles import purge, tasks
from batchhub.profiles.models import AppCustomData, Installation, Profile, ProfileEvent, PurgeRun
from batchhub.profiles.purge import purge_execute, purge_outlook, purge_run_now, purge_run_scheduled
from batchhub.profiles.purge_rule import profile_is_purge_eligible
from batchhub.profiles.services import profiles_touch
from batchhub.projects.services import project_inactivity_shorten
from tests.factories import (
    AppFactory,
    InstallationFactory,
    ProfileEventFactory,
    ProfileFactory,
    ProjectFactory,
)

pytestmark = [pytest.mark.portable, pytest.mark.django_db]

NOW = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen():
    """The clock stopped at NOW (every `timezone.now()` of the code under test)."""
    with mock.patch.object(timezone, "now", return_value=NOW):
        yield NOW


def _purge(project, **options) -> PurgeRun:
    run, _ = purge_run_scheduled(project)
    return purge_execute(run_claim(PurgeRun, run.pk, claimer="test"), **options)


def _world(project, *, inactive: int, active: int, events: int = 2):
    """Profiles of `project` with `events` events each and an installation each: `inactive` of them last active
    14 months before NOW, `active` of them a day before."""
    app = AppFactory(project=project)
    made = {"inactive": [], "active": []}
    for kind, count, at in (("inactive", inactive, NOW - dt.timedelta(days=430)), ("active", active, NOW)):
        for _ in range(count):
            profile = ProfileFactory(project=project, last_activity_at=at - dt.timedelta(days=1))
            ProfileEventFactory.create_batch(events, profile=profile)
            InstallationFactory(app=app, profile=profile, custom_id=profile.custom_id)
            AppCustomData.objects.create(app=app, custom_id=profile.custom_id, attributes={"a": 1}, updated_at=at)
            made[kind].append(profile)
    return made


def test_the_purge_deletes_inactive_profiles_with_their_events_and_keeps_app_centric_data(frozen):
    project, other = ProjectFactory(), ProjectFactory()
    made = _world(project, inactive=7, active=3)
    elsewhere = _world(other, inactive=2, active=0)

    run = _purge(project, batch_rows=3)

    gone = [p.pk for p in made["inactive"]]
    assert not Profile.objects.filter(pk__in=gone).exists()
    assert not ProfileEvent.objects.filter(profile_id__in=gone).exists()
    assert Profile.objects.filter(project=project).count() == 3
    assert ProfileEvent.objects.filter(profile__project=project).count() == 6
    # installations and custom data at app level are app-centric: they stay, unlinked
    assert Installation.objects.filter(app__project=project).count() == 10
    assert Installation.objects.filter(app__project=project, profile__isnull=True).count() == 7
    assert AppCustomData.objects.filter(app__project=project).count() == 10
    # another project's inactive profiles wait for its own run
    assert Profile.objects.filter(pk__in=[p.pk for p in elsewhere["inactive"]]).count() == 2

    assert run.status == PurgeRun.Status.SUCCEEDED
    assert (run.rows_total, run.rows_done, run.batches) == (7, 7, 3)
    assert run.deleted == {"profiles.events": 14, "profiles.installations": 7, "profiles.profiles": 7}
    assert run.cutoff == dt.datetime(2025, 2, 28, 12, tzinfo=dt.UTC)  # 13 calendar months before March 31
    assert run.finished_at is not None and run.started_via == PurgeRun.Via.SCHEDULE
    audit = AuditEvent.objects.get(action="purge.finish")
    assert audit.changes["profiles_deleted"] == [None, 7] and audit.project_code == project.code


def test_a_day_has_one_scheduled_run_per_project_and_a_second_start_finds_it(frozen):
    project = ProjectFactory()
    _world(project, inactive=2, active=1)
    first = _purge(project)
    again, created = purge_run_scheduled(project)
    assert not created and again.pk == first.pk and again.is_finished
    assert PurgeRun.objects.filter(project=project).count() == 1


def test_a_shorter_period_waits_for_the_next_run_and_can_be_cancelled(frozen, csm):
    project = ProjectFactory()
    recent = ProfileFactory(project=project, last_activity_at=NOW - dt.timedelta(days=100))
    project_inactivity_shorten(actor=csm, project=project, months=3, deleted_at_next_run=1)
    project.refresh_from_db()
    assert (project.inactivity_months, project.inactivity_months_next) == (13, 3)
    assert purge_outlook(project).eligible == 1  # the dry run counts by the period the next run applies
    assert Profile.objects.filter(pk=recent.pk).exists()  # nothing happened yet
    audit = AuditEvent.objects.get(action="project.inactivity_shorten")
    assert audit.changes["profiles_deleted_at_next_run"] == [None, 1]

    run = _purge(project)

    project.refresh_from_db()
    assert (project.inactivity_months, project.inactivity_months_next) == (3, None)
    assert run.inactivity_months == 3 and run.rows_done == 1
    assert AuditEvent.objects.filter(action="project.inactivity_applied").count() == 1


def test_activity_after_the_purge_creates_a_new_profile(frozen, api, applied):
    old = ProfileFactory(project=api.app.project, custom_id="ann", last_activity_at=NOW - dt.timedelta(days=800))
    _purge(api.app.project)
    assert not Profile.objects.filter(pk=old.pk).exists()

    with applied:
        response = api.app_call("POST", "/events/users/ann", {"events": [{"name": "ue.came_back"}]})
    assert response.status_code == 202

    new = Profile.objects.get(project=api.app.project, custom_id="ann")
    assert new.pk != old.pk and new.code != old.code
    assert new.created_at == NOW and new.last_activity_at == NOW
    assert list(new.events.values_list("name", flat=True)) == ["came_back"]


def test_the_daily_task_starts_one_run_per_project_and_is_safe_twice(frozen, django_capture_on_commit_callbacks):
    """Beat firing twice (or its message delivered twice) makes one run per project."""
    first, second = ProjectFactory(), ProjectFactory()
    _world(first, inactive=2, active=0)
    _world(second, inactive=1, active=1)
    lost = PurgeRun.objects.create(project=first, day=NOW.date() - dt.timedelta(days=3), inactivity_months=13,
                                   cutoff=NOW, status=PurgeRun.Status.RUNNING)  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        tasks.purge_daily.apply()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.purge_daily.apply()

    runs = PurgeRun.objects.filter(day=NOW.date())
    assert sorted(runs.values_list("project_id", "rows_done")) == sorted([(first.pk, 2), (second.pk, 1)])
    assert all(run.status == PurgeRun.Status.SUCCEEDED for run in runs)
    lost.refresh_from_db()
    assert lost.status == PurgeRun.Status.FAILED and "later day" in lost.error


def _json_lines(*args) -> list[dict]:
    out = io.StringIO()
    call_command("profiles_purge", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_command_counts_in_a_dry_run_then_purges_and_a_second_dry_run_finds_none(frozen):
    project = ProjectFactory(slug="acme")
    _world(project, inactive=5, active=2)

    [dry] = _json_lines("--project", "acme", "--dry-run", "--json")
    assert (dry["project"], dry["eligible"], dry["deleted"], dry["status"]) == ("acme", 5, 0, "dry-run")
    assert Profile.objects.filter(project=project).count() == 7 and not PurgeRun.objects.exists()

    [done] = _json_lines("--project", str(project.code), "--json")
    assert (done["eligible"], done["deleted"], done["batches"], done["status"]) == (5, 5, 1, "succeeded")
    assert done["cutoff"] == "2025-02-28T12:00:00+00:00"
    assert done["deleted_per_table"] == {"profiles.events": 10, "profiles.installations": 5, "profiles.profiles": 5}
    assert PurgeRun.objects.get(pk=done["run_id"]).started_via == PurgeRun.Via.COMMAND

    [after] = _json_lines("--dry-run", "--json")
    assert after["eligible"] == 0


def test_the_command_purges_now_even_after_the_days_scheduled_run(frozen):
    """The scheduled run of 02:30 had its cutoff; profiles that fell out since go with the command's own run."""
    project = ProjectFactory(slug="acme")
    with mock.patch.object(timezone, "now", return_value=NOW.replace(hour=2, minute=30)):
        scheduled = _purge(project)
    late = ProfileFactory(project=project, last_activity_at=dt.datetime(2025, 2, 28, 6, tzinfo=dt.UTC))  # out at 06:00
    assert scheduled.is_finished and scheduled.rows_done == 0 and purge_outlook(project).eligible == 1
    [done] = _json_lines("--project", "acme", "--json")
    assert done["deleted"] == 1 and done["run_id"] != scheduled.pk
    assert not Profile.objects.filter(pk=late.pk).exists()
    assert PurgeRun.objects.filter(project=project).count() == 2


def test_the_command_resumes_the_projects_unfinished_run_first(frozen):
    project = ProjectFactory(slug="acme")
    _world(project, inactive=3, active=0)
    stranded, _ = purge_run_scheduled(project)  # its task was lost before it started
    [done] = _json_lines("--project", "acme", "--json")
    assert done["run_id"] == stranded.pk and done["deleted"] == 3 and done["status"] == "succeeded"
    assert purge_run_now(project).pk != stranded.pk  # finished: the next command run is a new one


def test_the_command_prints_a_table_and_refuses_an_unknown_project(frozen):
    ProjectFactory(slug="acme")
    out = io.StringIO()
    call_command("profiles_purge", "--dry-run", stdout=out)
    assert out.getvalue().splitlines()[0].split()[:3] == ["project", "cutoff", "(UTC)"]
    assert "acme" in out.getvalue()
    with pytest.raises(CommandError, match="no project has the code or slug 'nope'"):
        call_command("profiles_purge", "--project", "nope")


def _months_before(at: dt.datetime, months: int) -> dt.datetime:
    """The test's own calendar: the same day and time `months` earlier, on the month's last day if it is shorter."""
    year, month = divmod(at.year * 12 + at.month - 1 - months, 12)
    return at.replace(year=year, month=month + 1, day=min(at.day, calendar.monthrange(year, month + 1)[1]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    now=st.datetimes(min_value=dt.datetime(2023, 1, 1), max_value=dt.datetime(2031, 12, 31)).map(
        lambda at: at.replace(microsecond=0, tzinfo=dt.UTC)
    ),
    months=st.integers(min_value=1, max_value=13),
)
@example(now=dt.datetime(2024, 3, 31, 0, 0, 0, tzinfo=dt.UTC), months=1)  # into a leap February
@example(now=dt.datetime(2025, 3, 31, 23, 59, 59, tzinfo=dt.UTC), months=13)  # back to the leap day
@example(now=dt.datetime(2025, 2, 28, 12, tzinfo=dt.UTC), months=12)  # from a short month's end
@example(now=dt.datetime(2024, 12, 31, 0, 0, 1, tzinfo=dt.UTC), months=10)  # a 31st into a 29-day month
@example(now=dt.datetime(2025, 1, 1, 0, 0, 0, tzinfo=dt.UTC), months=1)  # across a year's end
def test_one_second_inside_the_window_is_kept_and_one_second_outside_is_deleted(now, months):
    cutoff = _months_before(now, months)
    project = ProjectFactory(inactivity_months=months)
    second = dt.timedelta(seconds=1)
    outside = ProfileFactory(project=project, last_activity_at=cutoff - second)
    at_cutoff = ProfileFactory(project=project, last_activity_at=cutoff)
    inside = ProfileFactory(project=project, last_activity_at=cutoff + second)
    with mock.patch.object(timezone, "now", return_value=now):
        assert purge_outlook(project).eligible == 1
        assert [profile_is_purge_eligible(p, months) for p in (outside, at_cutoff, inside)] == [True, False, False]
        run = _purge(project)
    assert run.cutoff == cutoff and run.rows_done == 1
    kept = set(Profile.objects.filter(project=project).values_list("pk", flat=True))
    assert kept == {at_cutoff.pk, inside.pk}


def test_an_accepted_call_still_waiting_keeps_its_profile(frozen, api):
    """An accepted call is activity: the run has the calls accepted before it applied first."""
    ann = ProfileFactory(project=api.app.project, custom_id="ann", email="ann@example.com",
                         attributes={"tier": "vip"}, last_activity_at=NOW - dt.timedelta(days=500))  # fmt: skip
    response = api.app_call("POST", "/data/users/ann", {"values": {"u.plan": "gold"}})
    assert response.status_code == 202  # left pending: nothing ran its applier

    run = _purge(api.app.project)

    ann.refresh_from_db()  # still there, the call applied on it
    assert ann.attributes == {"tier": "vip", "plan": "gold"} and ann.email == "ann@example.com"
    assert ann.last_activity_at == NOW and run.rows_done == 0


def test_a_backlog_that_does_not_drain_fails_the_run_and_deletes_nothing(frozen, api, settings, monkeypatch):
    settings.PURGE_BACKLOG_WAIT_SECONDS = 0
    monkeypatch.setattr(purge, "api_calls_apply_soon", lambda *args, **kwargs: None)  # the workers are away
    old = ProfileFactory(project=api.app.project, custom_id="ann", last_activity_at=NOW - dt.timedelta(days=500))
    assert api.app_call("POST", "/data/users/bob", {"values": {"u.plan": "gold"}}).status_code == 202
    run, _ = purge_run_scheduled(api.app.project)

    with pytest.raises(purge.PurgeBacklog, match="1 API calls accepted before the run were still waiting"):
        tasks.purge_run.apply(args=[run.pk])

    run.refresh_from_db()
    assert run.status == PurgeRun.Status.FAILED and "still waiting to be applied" in run.error
    assert Profile.objects.filter(pk=old.pk).exists()
    assert "PurgeBacklog" in AuditEvent.objects.get(action="purge.fail").changes["error"][1]


def test_a_profile_the_purge_deletes_while_a_call_touches_it_is_created_again(monkeypatch):
    """The purge commits between the applier's insert (which found the profile) and its lock: inserted again."""
    project = ProjectFactory()
    old = ProfileFactory(project=project, custom_id="ann", last_activity_at=NOW - dt.timedelta(days=500))
    insert = Profile.objects.bulk_create

    def insert_then_purged(rows, **options):
        made = insert(rows, **options)
        monkeypatch.undo()  # once
        Profile.objects.filter(pk=old.pk).delete()
        return made

    monkeypatch.setattr(Profile.objects, "bulk_create", insert_then_purged)
    touched = profiles_touch(project.pk, ["ann"], NOW)
    assert touched["ann"].pk != old.pk and touched["ann"].last_activity_at == NOW
    assert Profile.objects.get(project=project, custom_id="ann").pk == touched["ann"].pk


def test_a_run_at_its_time_limit_is_released_and_queued_again(frozen, monkeypatch, django_capture_on_commit_callbacks):
    project = ProjectFactory()
    _world(project, inactive=3, active=0)
    run, _ = purge_run_scheduled(project)
    execute = purge.purge_execute

    def out_of_time(claimed, **options):
        monkeypatch.undo()  # the next delivery has its time
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(tasks, "purge_execute", out_of_time)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert tasks.purge_run.apply(args=[run.pk]).get() is None
    assert len(queued) == 1 and execute is purge.purge_execute
    run.refresh_from_db()
    assert run.status == PurgeRun.Status.SUCCEEDED and run.rows_done == 3


def test_a_run_taken_over_by_another_worker_is_not_a_failure(frozen):
    project = ProjectFactory()
    _world(project, inactive=3, active=0)
    run, _ = purge_run_scheduled(project)
    claimed = run_claim(PurgeRun, run.pk, claimer="first")
    PurgeRun.objects.filter(pk=run.pk).update(claimed_by="second")  # the first worker was thought dead
    with pytest.raises(RunLost):
        purge_execute(claimed)
    assert not AuditEvent.objects.filter(action="purge.fail").exists()
    assert Profile.objects.filter(project=project).count() == 3  # the worker that lost it deleted nothing


def test_a_run_whose_task_was_lost_is_queued_again(frozen, django_capture_on_commit_callbacks):
    project = ProjectFactory()
    _world(project, inactive=2, active=0)
    run, _ = purge_run_scheduled(project)
    PurgeRun.objects.filter(pk=run.pk).update(created_at=NOW - dt.timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.purge_resume.apply().get() == [run.pk]
    run.refresh_from_db()
    assert run.status == PurgeRun.Status.SUCCEEDED and run.rows_done == 2
    assert tasks.purge_resume.apply().get() == []


def test_the_batch_size_follows_the_time_of_the_last_batch():
    """A busy database slows batches down: the size halves to keep each transaction short, and grows back after."""
    size = 2000
    size = purge._next_size(size, 1100, most=2000)
    assert size == 1000
    assert purge._next_size(size, 450, most=2000) == 1000  # within the band: kept
    sizes = [size]
    for _ in range(5):
        sizes.append(purge._next_size(sizes[-1], 120, most=2000))
    assert sizes == [1000, 1251, 1564, 1956, 2000, 2000]
    assert purge._next_size(60, 5000, most=2000) == 50  # never below 50
