from __future__ import annotations

import pytest

from batchhub.projects.queries import projects_search

pytestmark = pytest.mark.portable


def test_projects_search_matches_project_or_customer_name_in_any_case(csm, project, other_project):
    assert [p.name for p in projects_search(csm, query="ACME RET")] == [project.name]
    assert [p.name for p in projects_search(csm, query=" globex ")] == [other_project.name]
    assert [p.name for p in projects_search(csm, query="")] == [project.name, other_project.name]


def test_projects_search_stays_inside_the_users_projects(partner_user, project, other_project):
    assert list(projects_search(partner_user, query="Globex")) == []
    assert [p.app_count for p in projects_search(partner_user, query="acme")] == [2]
