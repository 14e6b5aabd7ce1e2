"""The profiles panel of the project page, served by profiles (registered in ProfilesConfig.ready())."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import ProfileFactory

pytestmark = pytest.mark.portable


def _panel_url(project):
    return reverse("profiles:panel", kwargs={"code": project.code})


def test_htmx_gets_the_panel_alone_with_the_count_and_the_way_to_the_list(client, csm, project):
    ProfileFactory.create_batch(3, project=project)
    client.force_login(csm)
    response = client.get(_panel_url(project), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<article id="panel-profiles"')
    assert "Profiles (3)" in response.text
    assert f'href="{reverse("profiles:list", kwargs={"code": project.code})}"' in response.text
    assert "HX-Request" in response["Vary"]


def test_without_htmx_the_panel_is_a_full_page_linking_back_to_the_project(client, partner_user, project):
    ProfileFactory.create_batch(2, project=project)
    client.force_login(partner_user)
    response = client.get(_panel_url(project))
    assert response.status_code == 200
    assert "<html" in response.text and 'id="panel-profiles"' in response.text
    assert "Profiles (2)" in response.text
    back = reverse("projects:detail", kwargs={"code": project.code})
    assert f'<a href="{back}" data-testid="panel-back">' in response.text


def test_the_count_is_of_this_project_only(client, csm, project, other_project):
    ProfileFactory.create_batch(2, project=other_project)
    client.force_login(csm)
    assert "Profiles (0)" in client.get(_panel_url(project), headers={"HX-Request": "true"}).text


@pytest.mark.parametrize("htmx", [False, True])
def test_a_partner_of_another_project_gets_404(client, outsider, project, htmx):
    client.force_login(outsider)
    response = client.get(_panel_url(project), headers={"HX-Request": "true"} if htmx else {})
    assert response.status_code == 404


def test_anonymous_is_sent_to_login(client, project):
    response = client.get(_panel_url(project), headers={"HX-Request": "true"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_the_project_page_loads_it_into_a_placeholder_with_a_plain_link(client, partner_user, project):
    ProfileFactory.create_batch(2, project=project)
    client.force_login(partner_user)
    page = client.get(reverse("projects:detail", kwargs={"code": project.code})).text
    url = _panel_url(project)
    assert f'id="panel-profiles" class="panel panel-placeholder" hx-get="{url}" hx-trigger="load"' in page
    assert f'<a href="{url}">' in page
    assert "Profiles (2)" not in page  # the count is the panel's, loaded from profiles
