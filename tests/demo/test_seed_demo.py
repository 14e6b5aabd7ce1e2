"""seed_demo and demo_credentials: the demo world, its population, idempotency and the printed keys."""

from __future__ import annotations

import datetime as dt
import json
import random
from io import StringIO

import pytest
from dateutil.relativedelta import relativedelta
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import Count, F
from django.utils import timezone

from batchhub.accounts.models import Partner, User
from batchhub.campaigns.models import Campaign, CampaignMessage, TemplateBinding
from batchhub.connectors.models import (
    Connector,
    ConnectorKey,
    Destination,
    ExportConfig,
    InAppEvent,
    PushEvent,
    Source,
)
from batchhub.core.models import AuditEvent
from batchhub.core.roles import CSM, PARTNER, PRIVACY_ADMIN
from batchhub.demo import world
from batchhub.demo.generation import AppRef, ChunkContext, ProjectGenerator
from batchhub.profiles.models import Installation, Profile, ProfileEvent
from batchhub.projects.models import App, Project, ProjectGrant, RestApiKey

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


def seed(profiles: int = 300, **options) -> str:
    out = StringIO()
    call_command("seed_demo", profiles=profiles, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def world_counts() -> dict[str, int]:
    models = (
        Project, App, ProjectGrant, Partner, User, Campaign, Profile, ProfileEvent, Installation,
        PushEvent, InAppEvent, AuditEvent, Connector, ConnectorKey, Destination, Source, ExportConfig,
        CampaignMessage, TemplateBinding,
    )  # fmt: skip
    return {model.__name__: model.objects.count() for model in models}


def demo_projects() -> dict[str, Project]:
    return {project.slug: project for project in Project.objects.filter(slug__in=[p.slug for p in world.PROJECTS])}


def test_it_seeds_the_world_with_the_asked_number_of_profiles():
    output = seed(300)

    projects = demo_projects()
    assert set(projects) == {"acme-retail", "globex-media"}
    assert Profile.objects.filter(project=projects["acme-retail"]).count() == 180
    assert Profile.objects.filter(project=projects["globex-media"]).count() == 120
    for project in projects.values():
        assert sorted(project.apps.values_list("platform", flat=True)) == ["android", "ios", "web"]
        channels = set(project.campaigns.values_list("channel", "is_live"))
        assert {("push", True), ("push", False), ("inapp", True), ("email", True), ("email", False)} <= channels
    assert Partner.objects.filter(name__in=[p.name for p in world.PARTNERS]).count() == 3
    identified = Profile.objects.filter(custom_id__isnull=False).count()
    assert 0 < Profile.objects.filter(custom_id__isnull=True).count() < 60
    assert 1.5 * 300 < ProfileEvent.objects.count() < 4.5 * 300
    assert identified <= Installation.objects.count() < 1.6 * 300
    assert PushEvent.objects.exists()
    assert InAppEvent.objects.exists()
    assert "300 profiles" in output


def test_custom_ids_are_numbered_per_project_and_emails_are_lowercase():
    seed(300)

    acme = Profile.objects.filter(project__slug="acme-retail", custom_id__isnull=False)
    assert all(cid.startswith("acme-user-") and len(cid) == 17 for cid in acme.values_list("custom_id", flat=True))
    emails = list(Profile.objects.exclude(email=None).values_list("email", flat=True))
    assert emails
    assert all(email == email.lower() for email in emails)
    assert not Profile.objects.filter(email=None).exclude(email_marketing=None).exists()


def test_grants_differ_per_partner_and_one_project_is_visible_to_one_partner_only():
    seed(300)

    granted = {
        partner.name: frozenset(partner.grants.values_list("project__slug", flat=True))
        for partner in Partner.objects.filter(name__in=[p.name for p in world.PARTNERS])
    }
    assert len(set(granted.values())) == 3
    partners_per_project = ProjectGrant.objects.values("project__slug").annotate(n=Count("partner"))
    assert any(row["n"] == 1 for row in partners_per_project)


def test_some_profiles_are_purge_eligible_and_the_dates_are_consistent():
    seed(300)

    cutoff = timezone.now() - relativedelta(months=13)
    eligible = Profile.objects.filter(last_activity_at__lt=cutoff).count()
    assert 0.1 * 300 < eligible < 0.4 * 300
    assert Profile.objects.filter(last_activity_at__gte=cutoff).count() == 300 - eligible
    assert Profile.objects.filter(last_activity_at__lt=cutoff + dt.timedelta(days=90)).count() > eligible
    assert not Profile.objects.filter(last_activity_at__lt=F("created_at")).exists()
    assert not ProfileEvent.objects.filter(occurred_at__lt=F("profile__created_at")).exists()
    assert not ProfileEvent.objects.filter(occurred_at__gt=F("profile__last_activity_at")).exists()
    assert not Installation.objects.filter(last_seen_at__gt=F("profile__last_activity_at")).exists()
    week_ago = timezone.now() - dt.timedelta(days=7, minutes=5)
    assert not PushEvent.objects.filter(occurred_at__lt=week_ago).exists()
    assert not InAppEvent.objects.filter(occurred_at__lt=week_ago).exists()


def test_raw_events_point_at_installations_of_their_app():
    seed(300)

    assert not PushEvent.objects.exclude(app=F("installation__app")).exists()
    assert not InAppEvent.objects.exclude(app=F("installation__app")).exists()
    assert not PushEvent.objects.exclude(custom_id=F("installation__custom_id")).exclude(custom_id=None).exists()
    live_tokens = set(Campaign.objects.filter(is_live=True).values_list("token", flat=True))
    campaign_tokens = set(PushEvent.objects.filter(source="campaign").values_list("token", flat=True))
    assert campaign_tokens
    assert campaign_tokens <= live_tokens
    assert not PushEvent.objects.filter(source="transactional", group_id=None).exists()
    assert set(InAppEvent.objects.values_list("campaign_token", flat=True)) <= live_tokens


def test_running_it_twice_leaves_the_same_world():
    seed(300)
    before = world_counts()

    output = seed(300)

    assert world_counts() == before
    assert "nothing new" in output


def test_asking_for_more_tops_up_to_exactly_that_number():
    seed(300)
    codes_before = set(Profile.objects.values_list("code", flat=True))

    seed(500)

    assert Profile.objects.count() == 500
    assert Profile.objects.filter(project__slug="acme-retail").count() == 300
    assert codes_before < set(Profile.objects.values_list("code", flat=True))
    duplicated = (
        Profile.objects.exclude(custom_id=None).values("project", "custom_id").annotate(n=Count("id")).filter(n__gt=1)
    )
    assert not duplicated.exists()
    assert Project.objects.count() == 2


def test_asking_for_fewer_deletes_nothing():
    seed(300)

    seed(100)

    assert Profile.objects.count() == 300


def test_demo_logins_authenticate_with_their_roles():
    seed(0)

    for login in world.LOGINS:
        user = authenticate(username=login.username, password=login.password)
        assert user is not None, login.username
        assert user.first_name and user.last_name
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.groups.filter(name=CSM).exists()
    assert User.objects.get(username="csm").groups.filter(name=CSM).exists()
    assert User.objects.get(username="privacy").groups.filter(name=PRIVACY_ADMIN).exists()
    partner_users = User.objects.filter(groups__name=PARTNER, username__in=["pushwave", "attribly", "datacircle"])
    assert {user.partner.name for user in partner_users} == {"Pushwave", "Attribly", "DataCircle"}


def test_the_demo_partner_has_scenarios_bound_to_drafts_in_two_languages():
    seed(0)

    bound = {(b.connector.project.slug, b.scenario, b.campaign.name) for b in TemplateBinding.objects.all()}
    expected = {
        (slug, scenario, draft) for slug, rows in world.TEMPLATE_BINDINGS.items() for _, scenario, draft in rows
    }
    assert bound == expected
    assert all(not b.campaign.is_live for b in TemplateBinding.objects.select_related("campaign"))
    shipped = Campaign.objects.get(name="Order shipped")
    assert sorted(shipped.messages.values_list("language", flat=True)) == ["default", "fr"]
    assert AuditEvent.objects.filter(action="template_binding.create", actor__username="pushwave").count() == 3


def test_seeding_again_leaves_a_scenario_unbound_whose_draft_went_live_or_was_deleted():
    """A demo user made a bound draft live (or deleted it) and unbound its scenario: topping the world up again
    binds no live or deleted draft, and does not fail."""
    seed(0)
    shipped = Campaign.objects.get(name="Order shipped")
    shipped.is_live = True
    shipped.save(update_fields=["is_live"])
    reset = Campaign.objects.get(name="Password reset")
    reset.deleted_at = timezone.now()
    reset.save(update_fields=["deleted_at"])
    TemplateBinding.objects.filter(campaign__in=[shipped, reset]).delete()

    seed(0)

    assert sorted(TemplateBinding.objects.values_list("scenario", flat=True)) == ["cart_reminder"]


def test_the_seed_is_audited_as_the_system():
    seed(0)

    assert AuditEvent.objects.filter(action="project.create", actor_label="system").count() == 2
    assert AuditEvent.objects.filter(action="user.create").count() == len(world.LOGINS)


def test_demo_credentials_json_holds_the_apps_real_keys():
    seed(0)
    out = StringIO()

    call_command("demo_credentials", "--json", stdout=out)

    document = json.loads(out.getvalue())
    assert [login["username"] for login in document["logins"]] == [login.username for login in world.LOGINS]
    assert {login["partner"] for login in document["logins"]} == {None, "Pushwave", "Attribly", "DataCircle"}
    assert len(document["apps"]) == 6
    for entry in document["apps"]:
        app = App.objects.select_related("project").get(live_api_key=entry["live_api_key"])
        assert (app.name, app.platform, app.project.name) == (entry["app"], entry["platform"], entry["project"])
        company_key = RestApiKey.objects.get(customer=app.project.customer, project=None)
        assert company_key.secret.matches(entry["rest_api_key"])
        assert entry["rest_api_key"] == entry["project_rest_api_key"]  # one company key, as Batch's
        assert app.project.key == entry["project_key"]
        assert app.sdk_api_key == entry["sdk_api_key"]


def test_demo_credentials_prints_tables_without_json():
    seed(0)
    out = StringIO()

    call_command("demo_credentials", stdout=out)

    text = out.getvalue()
    assert "demo-csm-2026" in text
    app = App.objects.get(project__slug="globex-media", platform="android")
    assert app.live_api_key in text
    assert RestApiKey.objects.get(customer=app.project.customer).secret.reveal() in text


def test_demo_credentials_fails_clearly_before_the_seed():
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("demo_credentials", "--json", stdout=StringIO())


def test_it_refuses_to_seed_in_production(settings):
    settings.IS_PRODUCTION = True

    with pytest.raises(CommandError, match="production"):
        seed(10)

    assert not Project.objects.exists()


def test_the_same_seed_generates_the_same_rows():
    now = timezone.now().timestamp()
    ctx = ChunkContext(
        project_id=1,
        flavour=world.ACME.flavour,
        apps=(AppRef(1, "ios"), AppRef(2, "android"), AppRef(3, "web")),
        push_campaign_tokens=("a" * 32,),
        inapp_campaign_tokens=("b" * 32,),
        now=now,
        window_start=now - 600 * 86_400,
        purge_cutoff=now - 395 * 86_400,
    )

    def generate(seed: str) -> tuple[list, list, list]:
        rng = random.Random(seed)
        generator = ProjectGenerator(ctx)
        profiles, seeds = generator.profiles(rng, list(range(1, 51)), 0)
        events = list(generator.profile_events(rng, seeds))
        installations = generator.installations(rng, seeds)
        return profiles, events, installations

    assert generate("2026:acme-retail:0") == generate("2026:acme-retail:0")
    assert generate("2026:acme-retail:0")[0] != generate("2027:acme-retail:0")[0]


def test_each_demo_partner_has_a_connector_with_a_key_and_local_folders_on_each_granted_project(client):
    seed(0)
    out = StringIO()
    call_command("demo_credentials", "--json", stdout=out)
    listed = json.loads(out.getvalue())["connectors"]
    expected = {(spec.name, slug) for spec in world.PARTNERS for slug in spec.project_slugs}
    assert {
        (c.partner.name, c.project.slug) for c in Connector.objects.select_related("partner", "project")
    } == expected
    assert len(listed) == len(expected)
    for entry in listed:
        connector = Connector.objects.select_related("partner", "project").get(code=entry["code"])
        folder = connector.partner.name.lower()
        assert connector.destinations.get().transport_location() == {"path": f"exports/{folder}"}
        source = connector.sources.get()
        assert (source.transport_location(), source.kind) == ({"path": f"imports/{folder}"}, "local")
        assert connector.features == world.CONNECTOR_FEATURES[connector.kind]
        # the printed key works on the REST API, for its connector's project
        app = connector.project.apps.first()
        response = client.post(
            f"/1.0/{app.live_api_key}/events/users/demo-user",
            json.dumps({"events": [{"name": "opened"}]}),
            content_type="application/json",
            headers={"X-Authorization": entry["api_key"]},
        )
        assert response.status_code == 202, response.content


def test_exports_run_on_the_demo_world_writes_the_partners_files_in_their_folders(settings, tmp_path):
    settings.STORAGE_LOCAL_ROOT = tmp_path
    seed(300)
    out = StringIO()
    day = timezone.now().date() - dt.timedelta(days=1)
    call_command("exports_run", "--day", day.isoformat(), "--json", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == ExportConfig.objects.count() > 0
    assert {line["status"] for line in lines} == {"succeeded"}
    assert sum(line["rows"] for line in lines if line["kind"] == "push_events") > 0  # the demo has yesterday's events
    for line in lines:
        config = ExportConfig.objects.select_related("connector__partner").get(code=line["config"])
        assert (tmp_path / "exports" / config.connector.partner.slug / line["file"]).exists()
