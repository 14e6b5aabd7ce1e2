"""The campaign screens through the client: a CSM writes campaigns, a partner reads its projects' drafts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from batchhub.campaigns.models import Campaign
from batchhub.core.models import AuditEvent
from tests.factories import CampaignFactory, CampaignMessageFactory, ConnectorFactory, GrantFactory, PartnerFactory

pytestmark = pytest.mark.portable


def _post(**overrides) -> dict:
    data = {
        "name": "Winter sale",
        "app": "",
        "channel": "push",
        "priority": "normal",
        "push_time": "",
        "local_push_time": "",
        "deeplink": "acme://sale",
        "media_icon": "",
        "media_picture": "https://cdn.example.com/sale.png",
        "custom_payload": '{"offer": 42}',
        "labels": "promo, winter, promo",
        "messages-TOTAL_FORMS": "2",
        "messages-INITIAL_FORMS": "0",
        "messages-MIN_NUM_FORMS": "0",
        "messages-MAX_NUM_FORMS": "50",
        "messages-0-language": "default",
        "messages-0-title": "Sale!",
        "messages-0-body": "Everything -30%",
        "messages-1-language": "fr",
        "messages-1-title": "Soldes !",
        "messages-1-body": "Tout à -30 %",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def draft(project):
    campaign = CampaignFactory(project=project, name="Order shipped", deeplink="acme://orders")
    CampaignMessageFactory(campaign=campaign, language="fr", title="Expédiée", body="Votre commande")
    return campaign


@pytest.fixture
def partner_with_connector(partner_user, project, partner):
    ConnectorFactory(project=project, partner=partner)
    return partner_user


# ---- CSM: create, edit, delete ----------------------------------------------------------------------------------


def test_csm_creates_a_campaign_with_its_messages(client, csm, project):
    client.force_login(csm)
    response = client.post(reverse("campaigns:create", kwargs={"code": project.code}), _post())
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:detail", kwargs={"code": campaign.code})
    assert campaign.project == project and not campaign.is_live
    assert campaign.labels == ["promo", "winter"]
    assert campaign.custom_payload == '{"offer": 42}'
    assert sorted(campaign.messages.values_list("language", "title")) == [("default", "Sale!"), ("fr", "Soldes !")]
    event = AuditEvent.objects.get(action="campaign.create")
    assert event.object_code == str(campaign.code) and event.actor == csm


def test_labels_follow_the_apis_limits(client, csm, project):
    client.force_login(csm)
    url = reverse("campaigns:create", kwargs={"code": project.code})
    for labels, error in (("a, b, c, d, e, f", "At most 5 labels"), ("ok, " + "x" * 101, "at most 100 characters")):
        response = client.post(url, _post(labels=labels))
        assert response.status_code == 400 and error in response.text
    assert not Campaign.objects.exists()
    assert client.post(url, _post(labels="a, b, c, d, e, a")).status_code == 302  # 5 once repeats are dropped


def test_csm_creates_a_live_campaign_with_a_local_push_time_and_an_app(client, csm, project):
    app = project.apps.first()
    client.force_login(csm)
    data = _post(is_live="on", local_push_time="2026-12-24T18:00", app=str(app.pk))
    response = client.post(reverse("campaigns:create", kwargs={"code": project.code}), data)
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.is_live and campaign.app == app and campaign.local_push_time == "2026-12-24T18:00:00"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"name": ""}, "This field is required"),
        ({"media_picture": "http://cdn.example.com/a.png"}, "Give an https:// address."),
        ({"media_icon": "javascript:alert(1)"}, "Enter a valid URL"),
        ({"custom_payload": "[1, 2]"}, "must be a JSON object"),
        ({"custom_payload": "{oops"}, "it is not JSON"),
        ({"deeplink": "javascript:alert(1)"}, "Give a link with a scheme"),
        ({"push_time": "2026-12-24T18:00", "local_push_time": "2026-12-24T18:00"}, "not both"),
        ({"is_live": "on"}, "A live campaign needs a push time"),
        ({"local_push_time": "tomorrow"}, "YYYY-MM-DDTHH:MM:SS"),
        ({"messages-1-language": "default"}, "default appears more than once"),
        ({"messages-1-language": "french"}, "two-letter language code"),
        ({"messages-0-body": ""}, "This field is required"),
        ({"messages-0-DELETE": "on", "messages-1-DELETE": "on"}, "at least one language"),
        ({"app": "999999"}, "Select a valid choice"),
    ],
)
def test_an_invalid_campaign_is_a_400_that_says_why_and_saves_nothing(client, csm, project, overrides, error):
    client.force_login(csm)
    response = client.post(reverse("campaigns:create", kwargs={"code": project.code}), _post(**overrides))
    assert response.status_code == 400
    assert error in response.text
    assert not Campaign.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="campaign.").exists()


def test_the_app_of_another_project_is_refused(client, csm, project, other_project):
    client.force_login(csm)
    data = _post(app=str(other_project.apps.first().pk))
    response = client.post(reverse("campaigns:create", kwargs={"code": project.code}), data)
    assert response.status_code == 400
    assert not Campaign.objects.exists()


def test_csm_edits_a_campaign_and_replaces_its_messages(client, csm, draft):
    client.force_login(csm)
    url = reverse("campaigns:edit", kwargs={"code": draft.code})
    page = client.get(url)
    assert page.status_code == 200
    assert "Order shipped" in page.text and "Expédiée" in page.text  # the form and the saved preview
    data = _post(name="Order on its way", **{"messages-1-language": "de", "messages-1-title": "Unterwegs"})
    response = client.post(url, data)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.name == "Order on its way"
    assert sorted(draft.messages.values_list("language", flat=True)) == ["de", "default"]
    event = AuditEvent.objects.get(action="campaign.update")
    assert event.changes["name"] == ["Order shipped", "Order on its way"]
    assert "messages" in event.changes


def test_saving_an_unchanged_campaign_records_nothing(client, csm, draft):
    client.force_login(csm)
    url = reverse("campaigns:edit", kwargs={"code": draft.code})
    data = _post(
        name="Order shipped",
        deeplink="acme://orders",
        media_picture="",
        custom_payload="",
        labels="",
        **{"messages-0-title": "Hello", "messages-0-body": "World", "messages-1-title": "Expédiée"},
        **{"messages-1-body": "Votre commande"},
    )
    assert client.post(url, data).status_code == 302
    assert not AuditEvent.objects.filter(action="campaign.update").exists()


def test_csm_deletes_a_campaign_softly(client, csm, draft, project):
    client.force_login(csm)
    url = reverse("campaigns:delete", kwargs={"code": draft.code})
    assert client.get(url).status_code == 200
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:list", kwargs={"code": project.code})
    draft.refresh_from_db()
    assert draft.is_deleted
    assert AuditEvent.objects.filter(action="campaign.delete", object_code=str(draft.code)).exists()
    assert client.get(reverse("campaigns:detail", kwargs={"code": draft.code})).status_code == 404
    assert "Order shipped" not in client.get(reverse("campaigns:list", kwargs={"code": project.code})).text


def test_add_a_language_shows_one_more_row_and_saves_nothing(client, csm, project):
    client.force_login(csm)
    response = client.post(reverse("campaigns:create", kwargs={"code": project.code}), _post(add_language="1"))
    assert response.status_code == 200
    assert 'name="messages-2-language"' in response.text
    assert "Soldes !" in response.text  # what was typed stays
    assert not Campaign.objects.exists()


def test_the_preview_button_shows_the_typed_message_without_saving(client, csm, project):
    client.force_login(csm)
    response = client.post(reverse("campaigns:create", kwargs={"code": project.code}), _post(preview="1"))
    assert response.status_code == 200
    assert 'id="campaign-preview"' in response.text and "Tout à -30 %" in response.text
    assert not Campaign.objects.exists()


# ---- the live preview ---------------------------------------------------------------------------------------------


def test_the_htmx_preview_renders_only_the_partial(client, csm, project):
    client.force_login(csm)
    url = reverse("campaigns:preview", kwargs={"code": project.code})
    response = client.post(url, _post(**{"messages-0-title": "<b>Hi</b>"}), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="campaign-preview"')
    assert "&lt;b&gt;Hi&lt;/b&gt;" in response.text  # escaped
    assert 'data-language="fr"' in response.text
    assert 'src="https://cdn.example.com/sale.png"' in response.text
    assert "acme://sale" in response.text
    assert "<html" not in response.text
    assert "HX-Request" in response["Vary"]


def test_the_preview_shows_no_picture_that_is_not_https(client, csm, project):
    client.force_login(csm)
    url = reverse("campaigns:preview", kwargs={"code": project.code})
    response = client.post(url, _post(media_picture="http://evil.example.com/x.png"), headers={"HX-Request": "true"})
    assert "evil.example.com" not in response.text


def test_the_preview_without_htmx_is_a_page(client, csm, project):
    client.force_login(csm)
    response = client.post(reverse("campaigns:preview", kwargs={"code": project.code}), _post())
    assert response.status_code == 200
    assert "<html" in response.text and "Soldes !" in response.text


def test_the_editor_asks_for_the_preview_as_the_csm_types(client, csm, project):
    client.force_login(csm)
    response = client.get(reverse("campaigns:create", kwargs={"code": project.code}))
    assert 'hx-trigger="input changed delay:300ms"' in response.text
    assert reverse("campaigns:preview", kwargs={"code": project.code}) in response.text


# ---- lists and who reads what -------------------------------------------------------------------------------------


def test_csm_filters_the_list_by_status_and_channel(client, csm, project, draft):
    CampaignFactory(project=project, name="Black Friday", is_live=True, push_time="2026-11-27T09:00Z")
    CampaignFactory(project=project, name="Inbox tips", channel="inapp")
    client.force_login(csm)
    url = reverse("campaigns:list", kwargs={"code": project.code})
    everything = client.get(url).text
    assert "Order shipped" in everything and "Black Friday" in everything and "Inbox tips" in everything
    live = client.get(url, {"status": "live"}).text
    assert "Black Friday" in live and "Order shipped" not in live
    inapp = client.get(url, {"channel": "inapp"}, headers={"HX-Request": "true"})
    assert "Inbox tips" in inapp.text and "Order shipped" not in inapp.text
    assert inapp.text.lstrip().startswith('<div id="campaign-results"')


def test_partner_reads_the_drafts_of_its_connectors_projects(client, partner_with_connector, project, draft):
    live = CampaignFactory(project=project, name="Black Friday", is_live=True, push_time="2026-11-27T09:00Z")
    client.force_login(partner_with_connector)
    listing = client.get(reverse("campaigns:list", kwargs={"code": project.code}), {"status": "live"})
    assert listing.status_code == 200
    assert "Order shipped" in listing.text and "Black Friday" not in listing.text  # the status filter is staff's
    page = client.get(reverse("campaigns:detail", kwargs={"code": draft.code}))
    assert page.status_code == 200
    assert "Expédiée" in page.text and "acme://orders" in page.text and draft.token in page.text
    assert reverse("campaigns:edit", kwargs={"code": draft.code}) not in page.text
    assert client.get(reverse("campaigns:detail", kwargs={"code": live.code})).status_code == 404
    index = client.get(reverse("campaigns:index"))
    assert project.name in index.text


def test_partner_cannot_read_another_projects_drafts(client, partner_with_connector, other_project):
    foreign = CampaignFactory(project=other_project, name="Globex draft")
    client.force_login(partner_with_connector)
    assert client.get(reverse("campaigns:detail", kwargs={"code": foreign.code})).status_code == 404
    assert client.get(reverse("campaigns:list", kwargs={"code": other_project.code})).status_code == 404
    assert other_project.name not in client.get(reverse("campaigns:index")).text


def test_a_granted_partner_without_a_connector_reads_no_drafts(client, project, draft):
    from tests.factories import UserFactory

    rival = PartnerFactory(name="Competitor Inc")
    GrantFactory(project=project, partner=rival)
    client.force_login(UserFactory.partner_user(partner=rival, username="rival"))
    assert client.get(reverse("campaigns:detail", kwargs={"code": draft.code})).status_code == 404
    assert client.get(reverse("campaigns:list", kwargs={"code": project.code})).status_code == 404


def test_partner_cannot_write_or_preview(client, partner_with_connector, project, draft):
    client.force_login(partner_with_connector)
    assert client.post(reverse("campaigns:create", kwargs={"code": project.code}), _post()).status_code == 404
    assert client.post(reverse("campaigns:edit", kwargs={"code": draft.code}), _post()).status_code == 404
    assert client.post(reverse("campaigns:delete", kwargs={"code": draft.code})).status_code == 404
    assert client.post(reverse("campaigns:preview", kwargs={"code": project.code}), _post()).status_code == 404
    assert Campaign.objects.count() == 1 and not Campaign.objects.get().is_deleted


def test_privacy_admin_has_no_campaign_screens(client, privacy_admin, project, draft):
    client.force_login(privacy_admin)
    assert client.get(reverse("campaigns:index")).status_code == 404
    assert client.get(reverse("campaigns:detail", kwargs={"code": draft.code})).status_code == 404
    assert "Campaigns" not in client.get(reverse("dashboard:home")).text.split("</nav>")[0]


def test_outsider_gets_404_everywhere(client, outsider, project, draft):
    client.force_login(outsider)
    assert client.get(reverse("campaigns:list", kwargs={"code": project.code})).status_code == 404
    assert client.get(reverse("campaigns:detail", kwargs={"code": draft.code})).status_code == 404
