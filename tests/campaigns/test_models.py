"""Campaigns: content per language, one way to say when it is sent; older campaigns keep their content."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from batchhub.campaigns.models import Campaign, CampaignMessage
from tests.factories import CampaignFactory, CampaignMessageFactory, ProjectFactory
from tests.migrating import latest, migrate_to

pytestmark = pytest.mark.portable


def test_a_campaign_has_one_message_per_language_and_one_kind_of_push_time(db):
    campaign = CampaignFactory()
    CampaignMessageFactory(campaign=campaign, language="fr", title="Bonjour", body="Le monde")
    assert sorted(campaign.messages.values_list("language", flat=True)) == ["default", "fr"]
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignMessageFactory(campaign=campaign, language="fr")
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(push_time=dt.datetime(2026, 12, 7, tzinfo=dt.UTC),
                                                       local_push_time="2026-12-07T09:00:00")  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(priority="urgent")
    assert not campaign.is_deleted and not campaign.is_live


@pytest.fixture
def old_campaigns(transactional_db):
    # every other app at its latest: only the campaigns go back
    old = migrate_to([(app, "0001_initial" if app == "campaigns" else name) for app, name in latest()])
    Project, Campaign = old.get_model("projects", "Project"), old.get_model("campaigns", "Campaign")
    project = Project.objects.get(pk=ProjectFactory().pk)
    Campaign.objects.create(project=project, name="Welcome", channel="push", title="Hi", body="Welcome aboard",
                            media_url="https://cdn.example.com/w.png")  # fmt: skip
    Campaign.objects.create(project=project, name="Empty draft", channel="inapp")
    yield
    migrate_to(latest())


def test_older_campaigns_keep_their_title_body_and_picture(old_campaigns):
    migrate_to(latest())
    welcome = Campaign.objects.get(name="Welcome")
    assert list(welcome.messages.values_list("language", "title", "body")) == [("default", "Hi", "Welcome aboard")]
    assert welcome.media_picture == "https://cdn.example.com/w.png" and welcome.media_icon == ""
    assert not CampaignMessage.objects.filter(campaign__name="Empty draft").exists()
