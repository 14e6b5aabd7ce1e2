"""The project page's panel registry (projects/panels.py)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from django.urls import reverse

from batchhub.core.roles import CSM, PRIVACY_ADMIN
from batchhub.projects import panels

pytestmark = pytest.mark.portable


TEST_PANELS = ("late", "staff", "early", "notes", "odd")


@pytest.fixture
def registry():
    """The test's own panels are gone afterwards (the apps' own panels stay registered)."""
    yield
    for name in TEST_PANELS:
        panels.panel_unregister(name)


def _names(found) -> list[str]:
    return [panel.name for panel in found if panel.name in TEST_PANELS]


@pytest.mark.usefixtures("registry")
def test_panels_come_in_order_and_only_to_the_roles_that_see_them(csm, partner_user):
    panels.panel_register(name="late", title="Late", url_name="profiles:panel", order=50)
    panels.panel_register(name="staff", title="Staff", url_name="profiles:panel", order=5, roles=[CSM, PRIVACY_ADMIN])
    panels.panel_register(name="early", title="Early", url_name="profiles:panel", order=10)
    assert _names(panels.panels_for_user(csm)) == ["staff", "early", "late"]
    assert _names(panels.panels_for_user(partner_user)) == ["early", "late"]
    assert panels.panel_get_for_user(csm, "staff").title == "Staff"
    with pytest.raises(Http404):
        panels.panel_get_for_user(partner_user, "staff")
    with pytest.raises(Http404):
        panels.panel_get_for_user(csm, "missing")


@pytest.mark.usefixtures("registry")
def test_registering_the_same_panel_twice_is_harmless_but_a_taken_name_is_an_error():
    first = panels.panel_register(name="notes", title="Notes", url_name="profiles:panel")
    assert panels.panel_register(name="notes", title="Notes", url_name="profiles:panel") == first
    with pytest.raises(ImproperlyConfigured, match="Two panels"):
        panels.panel_register(name="notes", title="Other notes", url_name="profiles:panel")
    with pytest.raises(ImproperlyConfigured, match="roles"):
        panels.panel_register(name="odd", title="Odd", url_name="profiles:panel", roles=["admin"])


def test_every_registered_panel_has_a_url_of_the_project(project, csm):
    registered = panels.panels_for_user(csm)
    assert "profiles" in [panel.name for panel in registered]
    for panel in registered:
        assert panel.url(project).startswith(reverse("projects:detail", kwargs={"code": project.code}))


@pytest.mark.usefixtures("registry")
def test_a_user_without_a_role_sees_no_panel(django_user_model):
    panels.panel_register(name="notes", title="Notes", url_name="profiles:panel")
    nobody = django_user_model.objects.create_user("nobody", password="x" * 12)
    assert panels.panels_for_user(nobody) == []
