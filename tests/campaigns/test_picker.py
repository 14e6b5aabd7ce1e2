"""The template picker through the client: a connector's partner searches its project's drafts, previews one, binds
it to a scenario; nobody else reaches the picker, and no draft of another project can be previewed or bound."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from batchhub.campaigns.models import Campaign, TemplateBinding
from batchhub.campaigns.reads import PICKER_PAGE
from batchhub.core.models import AuditEvent
from tests.factories import CampaignFactory, CampaignMessageFactory, ConnectorFactory, GrantFactory, PartnerFactory

pytestmark = pytest.mark.portable

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def connector(project, partner):
    return ConnectorFactory(project=project, partner=partner, name="Pushwave CRM")


@pytest.fixture
def shipped(project):
    campaign = CampaignFactory(
        project=project,
        name="Order shipped",
        deeplink="acme://orders",
        media_picture="https://cdn.example.com/box.png",
        custom_payload='{"kind": "shipping"}',
        message__title="Your parcel is on its way",
        message__body="Track it in the app",
    )
    CampaignMessageFactory(campaign=campaign, language="fr", title="Colis expédié", body="Suivez-le dans l'app")
    return campaign


@pytest.fixture
def welcome(project):
    return CampaignFactory(
        project=project, name="Welcome", channel=Campaign.Channel.INAPP, message__title="Hi", message__body="Glad"
    )


def _picker(connector, **params) -> str:
    url = reverse("campaigns:picker", kwargs={"code": connector.code})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def _names(response) -> list[str]:
    return re.findall(r'data-testid="pick">([^<]+)</a>', response.text)


def _bind(client, connector, campaign, scenario="order_shipped", htmx=True, **extra):
    url = reverse("campaigns:picker_bind", kwargs={"code": connector.code})
    data = {"campaign": str(campaign.code), "scenario": scenario, **extra}
    return client.post(url, data, **(HTMX if htmx else {}))


# ---- search, filters, pages ---------------------------------------------------------------------------------------


def test_it_lists_the_projects_drafts_only(client, partner_user, connector, shipped, welcome, project, other_project):
    CampaignFactory(project=project, name="Live promo", is_live=True)
    CampaignFactory(project=project, name="Gone", deleted_at=timezone.now())
    CampaignFactory(project=other_project, name="Globex secret")
    client.force_login(partner_user)
    response = client.get(_picker(connector))
    assert response.status_code == 200
    assert sorted(_names(response)) == ["Order shipped", "Welcome"]
    assert 'hx-trigger="input changed delay:250ms, search"' in response.text


def test_search_matches_name_title_and_body_in_any_case(client, partner_user, connector, shipped, welcome):
    client.force_login(partner_user)
    assert _names(client.get(_picker(connector, q="ORDER"), **HTMX)) == ["Order shipped"]
    assert _names(client.get(_picker(connector, q="parcel"), **HTMX)) == ["Order shipped"]
    assert _names(client.get(_picker(connector, q="suivez"), **HTMX)) == ["Order shipped"]
    assert _names(client.get(_picker(connector, q="glad"), **HTMX)) == ["Welcome"]
    assert _names(client.get(_picker(connector, q="nothing-like-it"), **HTMX)) == []


def test_wildcards_and_quotes_in_a_search_are_plain_characters(client, partner_user, connector, shipped, project):
    CampaignFactory(project=project, name="50% off_today", message__title="It's \\ here", message__body="x")
    client.force_login(partner_user)
    for q, found in (("%25", ["50% off_today"]), ("_", ["50% off_today"]), ("'s \\", ["50% off_today"])):
        assert _names(client.get(_picker(connector), {"q": q.replace("%25", "%")}, **HTMX)) == found, q
    assert _names(client.get(_picker(connector), {"q": "0%o"}, **HTMX)) == []  # % matches only itself
    assert _names(client.get(_picker(connector), {"q": "o_f"}, **HTMX)) == []  # _ matches only itself


def test_htmx_gets_the_results_only_and_the_page_is_its_twin(client, partner_user, connector, shipped, welcome):
    client.force_login(partner_user)
    partial = client.get(_picker(connector, q="welcome"), **HTMX)
    assert partial.text.lstrip().startswith('<div id="results"')
    assert "<html" not in partial.text
    page = client.get(_picker(connector, q="welcome"))
    assert "<html" in page.text and _names(page) == ["Welcome"]
    assert 'value="welcome"' in page.text  # the search box keeps what was asked


def test_filters_by_channel_app_and_language(client, partner_user, connector, shipped, welcome, project):
    ios = project.apps.get(platform="ios")
    CampaignFactory(project=project, app=ios, name="iOS only")
    client.force_login(partner_user)
    assert _names(client.get(_picker(connector, channel="inapp"), **HTMX)) == ["Welcome"]
    assert _names(client.get(_picker(connector, app=ios.code), **HTMX)) == ["iOS only"]
    assert _names(client.get(_picker(connector, language="fr"), **HTMX)) == ["Order shipped"]
    # an unknown channel is ignored; an unknown app or language matches nothing, without failing
    assert len(_names(client.get(_picker(connector, channel="fax"), **HTMX))) == 3
    assert _names(client.get(_picker(connector, language="xx"), **HTMX)) == []
    assert _names(client.get(_picker(connector, app="not-a-uuid"), **HTMX)) == []


def test_it_pages_by_keyset_with_load_more(client, partner_user, connector, project):
    now = timezone.now()
    drafts = CampaignFactory.create_batch(PICKER_PAGE * 2 + 5, project=project)
    for i, draft in enumerate(drafts):  # some share an updated_at: the id breaks the tie
        Campaign.objects.filter(pk=draft.pk).update(updated_at=now - dt.timedelta(seconds=i // 3))
    client.force_login(partner_user)
    first = client.get(_picker(connector))
    seen = _names(first)
    assert len(seen) == PICKER_PAGE and 'data-testid="load-more"' in first.text
    while True:
        after = re.search(r'after=([0-9.]+)"', first.text)
        if not after:
            break
        first = client.get(_picker(connector, after=after.group(1)), **HTMX)
        assert "<table" not in first.text  # rows and the next button only, appended in place
        seen += _names(first)
    assert len(seen) == len(drafts) == len(set(seen))
    expected = list(
        Campaign.objects.filter(project=project).order_by("-updated_at", "-id").values_list("name", flat=True)
    )
    assert seen == expected
    # the no-JS twin of "load more" is a whole page of the next rows
    page_two = client.get(
        _picker(connector, after=re.search(r'after=([0-9.]+)"', client.get(_picker(connector)).text).group(1))
    )
    assert "<html" in page_two.text and _names(page_two) == expected[PICKER_PAGE : PICKER_PAGE * 2]


def test_a_malformed_cursor_shows_nothing(client, partner_user, connector, shipped):
    client.force_login(partner_user)
    assert _names(client.get(_picker(connector, after="x.y"), **HTMX)) == []


def test_a_cursor_whose_id_is_past_64_bits_shows_nothing(client, partner_user, connector, shipped):
    client.force_login(partner_user)
    stamp = round(timezone.now().timestamp() * 1_000_000)
    for pk in (2**63, -(2**63) - 1, 10**30):
        response = client.get(_picker(connector, after=f"{stamp}.{pk}"), **HTMX)
        assert response.status_code == 200 and _names(response) == [], pk


# ---- preview --------------------------------------------------------------------------------------------------


def test_preview_shows_content_per_language_deeplink_media_and_payload(client, partner_user, connector, shipped):
    client.force_login(partner_user)
    url = reverse("campaigns:picker_preview", kwargs={"code": connector.code, "campaign_code": shipped.code})
    pane = client.get(url, **HTMX)
    assert pane.status_code == 200
    assert pane.text.lstrip().startswith('<aside id="picker-preview"')
    for text in ("Your parcel is on its way", "Colis expédié", "acme://orders", "https://cdn.example.com/box.png",
                 "{&quot;kind&quot;: &quot;shipping&quot;}", shipped.token, "Use for scenario"):  # fmt: skip
        assert text in pane.text
    page = client.get(url)  # the no-JS twin: the whole picker with the pane filled
    assert "<html" in page.text and "Colis expédié" in page.text and "Order shipped" in page.text


# ---- bind, rebind, unbind -----------------------------------------------------------------------------------------


def test_binding_a_draft_answers_the_form_and_an_event(client, partner_user, connector, shipped):
    client.force_login(partner_user)
    response = _bind(client, connector, shipped)
    assert response.status_code == 200
    assert response["HX-Trigger"] == "bindingsChanged"
    assert "now sends Order shipped" in response.text
    binding = TemplateBinding.objects.get(connector=connector)
    assert (binding.scenario, binding.campaign) == ("order_shipped", shipped)
    assert AuditEvent.objects.filter(action="template_binding.create").count() == 1
    table = client.get(reverse("campaigns:picker_bindings", kwargs={"code": connector.code}), **HTMX)
    assert table.text.lstrip().startswith('<article id="bindings"')
    assert 'hx-trigger="bindingsChanged from:body"' in table.text
    payload = {"recipients": {"custom_ids": ["USER_CUSTOM_ID"]}, "template_id": shipped.token}
    assert f'data-testid="payload">{escape(json.dumps(payload))}</textarea>' in table.text


def test_a_bad_scenario_name_is_a_form_error(client, partner_user, connector, shipped):
    client.force_login(partner_user)
    for bad in ("", "with space", "x" * 101, "é"):
        response = _bind(client, connector, shipped, scenario=bad)
        assert response.status_code == 422  # the form comes back with its error (base.html's htmx-config swaps it)
        assert "HX-Trigger" not in response and "field-error" in response.text
    assert not TemplateBinding.objects.exists()


def test_a_scenario_is_unique_per_connector_and_rebinds_only_when_asked(
    client, partner_user, connector, shipped, welcome, project, partner
):
    client.force_login(partner_user)
    _bind(client, connector, shipped)
    refused = _bind(client, connector, welcome)
    assert refused.status_code == 422 and "HX-Trigger" not in refused
    assert "already bound to Order shipped" in refused.text
    assert TemplateBinding.objects.get().campaign == shipped
    rebound = _bind(client, connector, welcome, replace="on")
    assert rebound.status_code == 200 and rebound["HX-Trigger"] == "bindingsChanged"
    assert TemplateBinding.objects.get().campaign == welcome
    event = AuditEvent.objects.get(action="template_binding.rebind")
    assert event.changes["template_id"] == [shipped.token, welcome.token]
    # another connector of the same partner may use the same scenario name
    second = ConnectorFactory(project=project, partner=partner)
    assert _bind(client, second, shipped).status_code == 200
    assert TemplateBinding.objects.count() == 2


def test_bind_without_js_redirects_with_a_message_or_shows_the_page_with_errors(
    client, partner_user, connector, shipped
):
    client.force_login(partner_user)
    bad = _bind(client, connector, shipped, scenario="no spaces", htmx=False)
    assert bad.status_code == 400 and "<html" in bad.text and "Letters, digits" in bad.text
    good = _bind(client, connector, shipped, htmx=False)
    assert good.status_code == 302 and good["Location"] == _picker(connector)
    page = client.get(good["Location"])
    assert "now sends Order shipped" in page.text and shipped.token in page.text


def test_unbind_and_accept_changes(client, partner_user, connector, shipped):
    client.force_login(partner_user)
    _bind(client, connector, shipped)
    binding = TemplateBinding.objects.get()
    shipped.messages.filter(language="fr").update(body="Changé")
    kwargs = {"code": connector.code, "binding_code": binding.code}
    page = client.get(_picker(connector))
    assert "changed since it was bound" in page.text
    refreshed = client.post(reverse("campaigns:picker_binding_refresh", kwargs=kwargs), **HTMX)
    assert refreshed.status_code == 204 and refreshed["HX-Trigger"] == "bindingsChanged"
    assert "changed since it was bound" not in client.get(_picker(connector)).text
    deleted = client.post(reverse("campaigns:picker_binding_delete", kwargs=kwargs))
    assert deleted.status_code == 302
    assert not TemplateBinding.objects.exists()
    assert AuditEvent.objects.filter(action="template_binding.delete").count() == 1


def test_it_warns_when_the_bound_draft_went_live_or_was_deleted(client, partner_user, connector, shipped, welcome):
    client.force_login(partner_user)
    _bind(client, connector, shipped, scenario="a")
    _bind(client, connector, welcome, scenario="b")
    Campaign.objects.filter(pk=shipped.pk).update(is_live=True)
    Campaign.objects.filter(pk=welcome.pk).update(deleted_at=timezone.now())
    table = client.get(reverse("campaigns:picker_bindings", kwargs={"code": connector.code}), **HTMX).text
    assert "The draft went live" in table and "The draft was deleted" in table
    assert table.count('data-testid="binding-warning"') == 2
    for gone in (shipped, welcome):  # no link to a preview that would answer 404
        assert f"{gone.code}/" not in table


# ---- isolation ------------------------------------------------------------------------------------------------


def test_only_the_connectors_partner_reaches_the_picker(client, connector, csm, privacy_admin, outsider, project):
    rival = PartnerFactory(name="Competitor Inc")
    GrantFactory(project=project, partner=rival)
    from tests.factories import UserFactory

    rival_user = UserFactory.partner_user(partner=rival, username="rival")
    ConnectorFactory(project=project, partner=rival)  # it may read the project's drafts, not use this connector
    for user in (csm, privacy_admin, outsider, rival_user):
        client.force_login(user)
        assert client.get(_picker(connector)).status_code == 404


def test_a_draft_of_another_project_is_never_previewed_nor_bound(
    client, partner_user, connector, partner, other_project, project
):
    GrantFactory(project=other_project, partner=partner)
    ConnectorFactory(project=other_project, partner=partner)  # the partner may read those drafts elsewhere
    foreign = CampaignFactory(project=other_project, name="Globex secret")
    live = CampaignFactory(project=project, name="Live one", is_live=True)
    client.force_login(partner_user)
    for campaign in (foreign, live):
        url = reverse("campaigns:picker_preview", kwargs={"code": connector.code, "campaign_code": campaign.code})
        assert client.get(url).status_code == 404
        assert client.get(url, **HTMX).status_code == 404
        assert _bind(client, connector, campaign).status_code == 404
    for guess in ("not-a-uuid", foreign.token, "00000000-0000-0000-0000-000000000000"):
        url = reverse("campaigns:picker_bind", kwargs={"code": connector.code})
        assert client.post(url, {"campaign": guess, "scenario": "x"}, **HTMX).status_code == 404
    assert not TemplateBinding.objects.exists()
    assert "Globex secret" not in client.get(_picker(connector, q="globex")).text


def test_a_binding_of_another_connector_cannot_be_changed_through_this_one(
    client, partner_user, connector, shipped, project
):
    rival = PartnerFactory(name="Competitor Inc")
    GrantFactory(project=project, partner=rival)
    theirs = ConnectorFactory(project=project, partner=rival)
    binding = TemplateBinding.objects.create(connector=theirs, scenario="x", campaign=shipped, content_fingerprint="")
    client.force_login(partner_user)
    for name in ("campaigns:picker_binding_delete", "campaigns:picker_binding_refresh"):
        url = reverse(name, kwargs={"code": connector.code, "binding_code": binding.code})
        assert client.post(url).status_code == 404
    assert TemplateBinding.objects.filter(pk=binding.pk).exists()


def test_the_connector_page_links_to_the_picker(client, partner_user, connector):
    client.force_login(partner_user)
    page = client.get(reverse("connectors:detail", kwargs={"code": connector.code}))
    assert _picker(connector) in page.text and "not available yet" not in page.text.split('id="templates"')[1]


# ---- a project's picker: a CSM reads drafts and every connector's bindings -----------------------------------------


def _project_picker(project, **params) -> str:
    url = reverse("campaigns:project_picker", kwargs={"code": project.code})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def test_a_csm_searches_and_previews_a_projects_drafts_without_binding(
    client, csm, project, other_project, shipped, welcome
):
    CampaignFactory(project=project, name="Live one", is_live=True)
    CampaignFactory(project=other_project, name="Globex secret")
    client.force_login(csm)
    page = client.get(_project_picker(project))
    assert page.status_code == 200 and sorted(_names(page)) == ["Order shipped", "Welcome"]
    assert f"<small>{timezone.localtime(shipped.updated_at):%Y-%m-%d %H:%M}</small>" in page.text
    assert 'id="bind-form"' not in page.text and "Globex secret" not in page.text
    results = client.get(_project_picker(project, q="PARCEL"), **HTMX)
    assert results.text.lstrip().startswith('<div id="results"') and _names(results) == ["Order shipped"]
    preview_url = reverse(
        "campaigns:project_picker_preview", kwargs={"code": project.code, "campaign_code": shipped.code}
    )
    assert f'href="{preview_url}' in results.text  # rows preview in the project's picker, not a connector's
    pane = client.get(preview_url, **HTMX)
    assert pane.status_code == 200 and shipped.token in pane.text and "Colis expédié" in pane.text
    assert "bind-form" not in pane.text and "Use for scenario" not in pane.text
    whole = client.get(preview_url)  # the no-JS twin: the whole page with the pane
    assert whole.status_code == 200 and 'data-testid="bindings"' in whole.text and "Colis expédié" in whole.text


def test_a_csm_sees_every_connectors_bindings_with_warnings_and_no_action(
    client, csm, partner_user, connector, shipped, welcome, project
):
    rival = PartnerFactory(name="Competitor Inc")
    GrantFactory(project=project, partner=rival)
    theirs = ConnectorFactory(project=project, partner=rival, name="Rival CDP")
    client.force_login(partner_user)
    _bind(client, connector, shipped, scenario="order_shipped")
    TemplateBinding.objects.create(connector=theirs, scenario="welcome_flow", campaign=welcome, content_fingerprint="")
    Campaign.objects.filter(pk=welcome.pk).update(deleted_at=timezone.now())
    client.force_login(csm)
    page = client.get(_project_picker(project)).text
    article = re.search(r'<article id="bindings"[^>]*>', page).group(0)
    assert "hx-get" not in article  # nothing reloads it: a CSM changes no binding
    table = page.split(article)[1]
    assert "Pushwave CRM" in table and "Rival CDP" in table
    assert "order_shipped" in table and "welcome_flow" in table and shipped.token in table
    assert table.count('data-testid="binding-warning"') >= 1 and "The draft was deleted" in table
    assert "Unbind" not in table and "Accept changes" not in table


def test_only_a_csm_reaches_a_projects_picker(client, csm, privacy_admin, partner_user, connector, project, shipped):
    preview = reverse("campaigns:project_picker_preview", kwargs={"code": project.code, "campaign_code": shipped.code})
    for user in (privacy_admin, partner_user):
        client.force_login(user)
        assert client.get(_project_picker(project)).status_code == 404
        assert client.get(preview, **HTMX).status_code == 404
    client.force_login(csm)
    assert client.get(preview, **HTMX).status_code == 200


def test_a_projects_picker_never_previews_a_draft_of_another_project_nor_a_live_one(
    client, csm, project, other_project
):
    foreign = CampaignFactory(project=other_project, name="Globex secret")
    live = CampaignFactory(project=project, name="Live one", is_live=True)
    client.force_login(csm)
    for campaign in (foreign, live):
        url = reverse("campaigns:project_picker_preview", kwargs={"code": project.code, "campaign_code": campaign.code})
        assert client.get(url).status_code == 404
    project.deleting_since = timezone.now()
    project.save(update_fields=["deleting_since"])
    assert client.get(_project_picker(project)).status_code == 404


def test_the_project_page_panel_counts_and_links_to_the_projects_picker(
    client, csm, partner_user, connector, project, shipped, welcome
):
    CampaignFactory(project=project, name="Live one", is_live=True)
    client.force_login(partner_user)
    _bind(client, connector, shipped, scenario="a")
    _bind(client, connector, welcome, scenario="b")
    Campaign.objects.filter(pk=welcome.pk).update(is_live=True)
    client.force_login(csm)
    panel_url = reverse("campaigns:panel", kwargs={"code": project.code})
    assert panel_url in client.get(reverse("projects:detail", kwargs={"code": project.code})).text
    panel = client.get(panel_url, **HTMX).text
    stats = re.findall(r'stat-value">(\d+)</span><span class="stat-label">([^<]+)<', panel)
    assert stats == [("2", "Live campaigns"), ("1", "Drafts (templates)"), ("2", "Scenarios bound by partners")]
    assert 'data-testid="broken-bindings"' in panel and "1 bound draft was deleted or went live" in panel
    assert _project_picker(project) in panel
    connector_page = client.get(reverse("connectors:detail", kwargs={"code": connector.code})).text
    assert _project_picker(project) in connector_page.split('id="templates"')[1]
