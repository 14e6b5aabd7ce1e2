"""The template picker in a real headless Chromium: as a partner, search, filter, preview, bind, copy the payload,
rebind; as a CSM, a project's drafts and every connector's bindings, read-only."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from batchhub.campaigns.models import Campaign, TemplateBinding
from tests.factories import PASSWORD, CampaignFactory, CampaignMessageFactory, ConnectorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_partner_picks_a_template_for_a_scenario(page, live_server, partner_user, partner, project, screenshot):
    connector = ConnectorFactory(project=project, partner=partner, name="Pushwave CRM")
    shipped = CampaignFactory(
        project=project,
        name="Order shipped",
        deeplink="acme://orders",
        custom_payload='{"kind": "shipping"}',
        message__title="Your parcel is on its way",
        message__body="Track it in the app",
    )
    CampaignMessageFactory(campaign=shipped, language="fr", title="Colis expédié", body="Suivez-le dans l'app")
    delayed = CampaignFactory(project=project, name="Order delayed", message__title="Sorry", message__body="Soon")
    CampaignFactory(project=project, name="Welcome", channel=Campaign.Channel.INAPP, message__body="Glad you came")
    for i in range(6):
        CampaignFactory(project=project, name=f"Weekly digest {i}", message__body="News of the week")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("pushwave")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/connectors/{connector.code}/")
    page.get_by_role("button", name="Message templates").click()
    expect(page.get_by_role("heading", name="Message templates")).to_be_visible()
    expect(page.get_by_test_id("pick")).to_have_count(9)

    # search as one types (debounced, server-side), then a filter
    page.get_by_test_id("picker-search").type("order")
    expect(page.get_by_test_id("pick")).to_have_count(2)
    page.get_by_label("Language").select_option("fr")
    expect(page.get_by_test_id("pick")).to_have_count(1)
    expect(page.get_by_test_id("pick")).to_have_text("Order shipped")
    page.get_by_label("Language").select_option("")
    expect(page.get_by_test_id("pick")).to_have_count(2)
    screenshot("picker-results")

    # the keyboard: down from the search box to the first row, Enter previews, Escape closes
    page.get_by_test_id("picker-search").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_test_id("pick").nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    url_before = page.url
    page.keyboard.press("Enter")
    preview = page.get_by_test_id("picker-preview")
    expect(preview.get_by_role("heading", name="Order delayed")).to_be_visible()
    assert page.url == url_before  # no full page load
    page.keyboard.press("Escape")
    expect(preview.get_by_role("heading")).to_have_count(0)

    page.get_by_role("link", name="Order shipped").click()
    expect(preview.get_by_role("heading", name="Order shipped")).to_be_visible()
    expect(preview.get_by_text("Colis expédié")).to_be_visible()
    expect(preview.get_by_text("acme://orders").first).to_be_visible()
    screenshot("picker-preview")

    preview.get_by_label("Scenario").fill("order_update")
    preview.get_by_role("button", name="Use for scenario").click()
    expect(preview.get_by_text("now sends Order shipped")).to_be_visible()
    bindings = page.get_by_test_id("bindings")
    expect(bindings.get_by_test_id("template-id")).to_have_text(shipped.token)  # the table updated in place

    bindings.get_by_role("button", name="Copy payload").click()
    expect(bindings.get_by_text("Copied.")).to_be_visible()
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied == {"recipients": {"custom_ids": ["USER_CUSTOM_ID"]}, "template_id": shipped.token}
    screenshot("picker-bound")

    # rebind the scenario to another draft
    page.get_by_role("link", name="Order delayed").click()
    expect(preview.get_by_role("heading", name="Order delayed")).to_be_visible()
    preview.get_by_label("Scenario").fill("order_update")
    preview.get_by_role("button", name="Use for scenario").click()
    expect(preview.get_by_text("already bound to Order shipped")).to_be_visible()
    preview.get_by_role("checkbox", name="Replace an existing binding").check()
    preview.get_by_role("button", name="Use for scenario").click()
    expect(bindings.get_by_test_id("template-id")).to_have_text(delayed.token)
    assert TemplateBinding.objects.get(connector=connector, scenario="order_update").campaign == delayed
    screenshot("picker-rebound")


def test_a_csm_reads_a_projects_templates_and_bindings(page, live_server, csm, partner, project, screenshot):
    connector = ConnectorFactory(project=project, partner=partner, name="Pushwave CRM")
    shipped = CampaignFactory(project=project, name="Order shipped", message__title="Your parcel is on its way")
    CampaignFactory(project=project, name="Welcome", message__body="Glad you came")
    TemplateBinding.objects.create(connector=connector, scenario="order_shipped", campaign=shipped,
                                   content_fingerprint="")  # fmt: skip

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("csm")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/projects/{project.code}/")
    panel = page.locator("#panel-campaigns")
    expect(panel.get_by_text("Scenarios bound by partners")).to_be_visible()  # the panel loaded over htmx
    panel.get_by_role("button", name="Message templates").click()
    expect(page.get_by_test_id("pick")).to_have_count(2)
    page.get_by_test_id("picker-search").type("parcel")
    expect(page.get_by_test_id("pick")).to_have_count(1)
    page.get_by_test_id("pick").click()
    preview = page.get_by_test_id("picker-preview")
    expect(preview.get_by_role("heading", name="Order shipped")).to_be_visible()
    expect(preview.get_by_role("button", name="Use for scenario")).to_have_count(0)  # a CSM binds nothing
    bindings = page.get_by_test_id("bindings")
    expect(bindings.get_by_role("link", name="Pushwave CRM")).to_be_visible()
    expect(bindings.get_by_test_id("template-id")).to_have_text(shipped.token)
    expect(bindings.get_by_role("button", name="Unbind")).to_have_count(0)
    screenshot("picker-project-csm")
