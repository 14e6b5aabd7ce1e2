"""Each persona's main journey in a real headless Chromium against the live server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from batchhub.projects.models import RestApiKey
from tests.factories import PASSWORD, ProfileEventFactory, ProfileFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_csm_creates_a_project_adds_an_app_and_sees_the_key_once(page, live_server, csm, project, screenshot):
    ProfileFactory.create_batch(3, project=project)
    _login(page, live_server, "csm")
    expect(page.get_by_role("heading", name=re.compile("Good to see you"))).to_be_visible()
    screenshot("csm-home")

    page.get_by_role("button", name="New project").first.click()
    page.get_by_label("Name").fill("Initech")
    page.get_by_label("Customer").fill("Initech Inc")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Initech", exact=True)).to_be_visible()
    key = RestApiKey.objects.get(customer__name="Initech Inc").secret.reveal()
    expect(page.get_by_test_id("revealed-secret")).to_have_text(key)

    page.get_by_text("Add an app").click()
    app_form = page.locator("form[action$='/apps/']")
    app_form.get_by_label("Name").fill("InitechApp")
    app_form.get_by_label("Platform").select_option("android")
    page.get_by_role("button", name="Add app").click()
    expect(page.get_by_role("cell", name="InitechApp")).to_be_visible()
    expect(page.get_by_test_id("revealed-secret")).to_have_count(0)  # the company key already works for it

    page.get_by_text("New REST API key").click()
    key_form = page.locator("form[action$='/rest-keys/']")
    key_form.get_by_label("Name").fill("CRM sync")
    key_form.get_by_label("Scope").select_option("project")
    page.get_by_role("button", name="Create key").click()
    narrowed = RestApiKey.objects.get(name="CRM sync")
    expect(page.get_by_test_id("revealed-secret")).to_have_text(narrowed.secret.reveal())
    screenshot("project-detail")

    page.reload()
    expect(page.get_by_test_id("revealed-secret")).to_have_count(0)
    assert key not in page.content() and narrowed.secret.reveal() not in page.content()

    # the company key rotated with the default 24 h overlap: the new one shown once, the old one ending
    page.on("dialog", lambda dialog: dialog.accept())
    company_row = page.get_by_role("row", name=re.compile("Company REST key")).first
    company_row.get_by_text("Rotate").first.click()
    company_row.get_by_role("button", name="Rotate now").click()
    heir = RestApiKey.objects.get(customer__name="Initech Inc", project=None, rotated_to=None)
    expect(page.get_by_test_id("revealed-secret")).to_have_text(heir.secret.reveal())
    expect(page.get_by_role("cell", name=re.compile("^ends "))).to_be_visible()
    screenshot("rest-keys-rotated")


def test_partner_sees_its_project_and_searches_profiles_as_it_types(
    page, live_server, partner_user, project, other_project, screenshot
):
    alice = ProfileFactory(project=project, custom_id="alice-42", email="alice@example.com")
    ProfileEventFactory(profile=alice, name="ue.purchase", label="order 42")
    ProfileFactory.create_batch(5, project=project)
    _login(page, live_server, "pushwave")
    expect(page.get_by_role("heading", name="Pushwave")).to_be_visible()
    expect(page.get_by_role("link", name=project.name).first).to_be_visible()
    expect(page.get_by_text(other_project.name)).to_have_count(0)
    screenshot("partner-home")

    page.get_by_role("link", name=project.name).first.click()
    page.get_by_role("button", name=re.compile("Profiles")).first.click()
    expect(page.locator("#profile-rows tr")).to_have_count(6)
    page.get_by_label("Search profiles").fill("alice")
    expect(page.locator("#profile-rows tr")).to_have_count(1)
    assert "q=alice" in page.url
    screenshot("profile-list")
    page.get_by_role("link", name="alice-42").click()
    expect(page.get_by_text("order 42")).to_be_visible()
    screenshot("profile-detail")


def test_csm_previews_a_shorter_period_and_confirms_it_by_its_number(page, live_server, csm, project, screenshot):
    import datetime as dt

    from django.utils import timezone

    now = timezone.now()
    for days in (30, 200, 250, 500, 600):  # two purged by the next run; two more with 6 months
        ProfileFactory(project=project, last_activity_at=now - dt.timedelta(days=days))
    _login(page, live_server, "csm")
    page.goto(f"{live_server.url}/projects/{project.code}/")
    panel = page.locator("#panel-purge")
    expect(panel.get_by_test_id("next-run-deletes")).to_have_text("2")  # loaded by htmx into the placeholder
    expect(panel.get_by_test_id("purge-chart")).to_be_visible()
    expect(panel.get_by_test_id("cutoff-line")).to_have_count(1)
    screenshot("purge-panel")

    panel.get_by_label("Shorter period (months)").fill("6")
    panel.get_by_role("button", name="Preview a shorter period").click()
    expect(page.get_by_test_id("shorten-deleted")).to_have_text("4")
    expect(page.get_by_test_id("proposed-line")).to_have_count(1)
    page.get_by_label("Type 4 to confirm").fill("3")
    page.get_by_role("button", name=re.compile("Shorten to 6 months")).click()
    expect(page.get_by_text("The next run would delete 4 profiles: type 4 to confirm.")).to_be_visible()
    expect(page.get_by_label("Type 4 to confirm")).to_have_value("3")
    screenshot("purge-shorten-confirmation")
    page.get_by_label("Type 4 to confirm").fill("4")
    page.get_by_role("button", name=re.compile("Shorten to 6 months")).click()
    expect(page.get_by_text("The inactivity period becomes 6 months at the next purge run")).to_be_visible()
    expect(page.locator("#panel-purge").get_by_test_id("pending-period")).to_be_visible()
    project.refresh_from_db()
    assert (project.inactivity_months, project.inactivity_months_next) == (13, 6)


def test_privacy_admin_reads_the_audit_log(page, live_server, privacy_admin, csm, project, screenshot):
    from batchhub.projects import services

    services.project_inactivity_shorten(actor=csm, project=project, months=9, deleted_at_next_run=0)
    _login(page, live_server, "privacy")
    expect(page.get_by_role("heading", name="Privacy")).to_be_visible()
    page.get_by_role("link", name="Audit log", exact=True).click()
    expect(page.get_by_role("cell", name="project.inactivity_shorten")).to_be_visible()
    screenshot("audit-log")


def test_a_guessed_login_is_told_how_long_to_wait(page, live_server, csm, settings, screenshot):
    from django.core.cache import cache

    cache.clear()
    settings.LOGIN_FAILURES_PER_USERNAME = 3
    for _ in range(3):
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill("csm")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Log in").click()
    _login(page, live_server, "csm")
    expect(page.get_by_role("alert")).to_contain_text("Too many failed attempts: wait")
    screenshot("login-throttled")
    cache.clear()


def test_a_long_name_without_spaces_wraps_instead_of_widening_the_page(page, live_server, csm, screenshot):
    from tests.factories import AppFactory, ProjectFactory

    project = ProjectFactory(name="X" * 120, customer="C" * 120)
    AppFactory(project=project, name="A" * 80, platform="web")
    _login(page, live_server, "csm")
    for url in (f"/projects/{project.code}/", "/projects/", "/"):
        page.goto(f"{live_server.url}{url}")
        width = page.evaluate("document.documentElement.scrollWidth")
        wide = page.evaluate(
            "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth)"
            ".slice(0, 3).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
        )
        assert width <= page.viewport_size["width"], (url, width, wide)
    page.goto(f"{live_server.url}/projects/{project.code}/")
    screenshot("long-name")


def test_partner_creates_a_connector_a_key_and_a_destination_whose_test_fails_with_a_classified_error(
    page, live_server, partner_user, project, csm, screenshot, settings, tmp_path
):
    import socket

    from batchhub.connectors.models import ConnectorKey

    settings.STORAGE_LOCAL_ROOT = tmp_path
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    _login(page, live_server, "pushwave")
    expect(page.get_by_role("heading", name="Your connectors")).to_be_visible()
    page.get_by_role("button", name="New connector").first.click()
    page.get_by_label("Name").fill("Pushwave CRM sync")
    page.get_by_label("Integration kind").select_option("marketing_automation")
    page.get_by_role("checkbox", name=re.compile("Custom data")).check()
    page.get_by_role("checkbox", name=re.compile("Trigger events")).check()
    page.get_by_role("button", name="Create connector").click()
    expect(page.get_by_role("heading", name=re.compile("Pushwave CRM sync"))).to_be_visible()

    page.get_by_text("New API key").click()
    page.locator("form[action$='/keys/']").get_by_label("Name").fill("production")
    page.get_by_role("button", name="Create key").click()
    key = ConnectorKey.objects.get(name="production").secret.reveal()
    expect(page.get_by_test_id("revealed-secret")).to_have_text(key)
    screenshot("connector-page")

    page.get_by_role("button", name="Add a destination").click()
    page.get_by_label("Storage kind").select_option("ftps")
    expect(page.get_by_label("Pinned CA certificate (PEM)")).to_be_visible()  # htmx swapped in the FTPS fields
    page.get_by_label("Name", exact=True).fill("Partner FTPS")
    page.get_by_role("textbox", name=re.compile("^Host")).fill("127.0.0.1")
    page.get_by_label("Port").fill(str(port))
    page.get_by_label("User name").fill("batch")
    page.get_by_label("Password").fill("ftps-password-1")
    page.get_by_role("button", name="Save").click()
    page.get_by_test_id("storage-test").click()
    outcome = page.get_by_test_id("test-outcome")
    expect(outcome).to_have_attribute("data-outcome", "transient")
    expect(outcome).to_contain_text("temporary problem")
    assert "ftps-password-1" not in page.content()
    screenshot("destination-test-failed")

    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("link", name="Pushwave CRM sync")).to_be_visible()
    screenshot("partner-home")
