"""demo.services called directly (the seed_demo command is tested in test_seed_demo.py)."""

from __future__ import annotations

import pytest

from batchhub.demo import world
from batchhub.demo.services import DemoSeedError, demo_profile_targets, demo_world_seed
from batchhub.profiles.models import Profile
from batchhub.projects.models import Project

pytestmark = pytest.mark.portable


@pytest.mark.parametrize("total", [0, 1, 7, 301, 50_000])
def test_the_projects_shares_add_up_to_the_total_exactly(total):
    targets = demo_profile_targets(total)
    assert set(targets) == {spec.slug for spec in world.PROJECTS}
    assert sum(targets.values()) == total
    assert all(target >= 0 for target in targets.values())


def test_the_shares_follow_each_projects_flavour():
    assert demo_profile_targets(1000) == {"acme-retail": 600, "globex-media": 400}


@pytest.mark.django_db
def test_the_seed_reports_what_it_made_then_only_tops_up():
    report = demo_world_seed(profiles=20, chunk_size=7)
    assert report.created["projects"] == 2 and report.created["partners"] == 3
    assert report.added["profiles"] == 20
    assert report.profiles == {"Acme Retail": 12, "Globex Media": 8}
    assert report.totals["profiles"] == Profile.objects.count() == 20

    again = demo_world_seed(profiles=30)
    assert not any(again.created.values())  # the world is there: nothing is created twice
    assert again.added["profiles"] == 10
    assert again.profiles == {"Acme Retail": 18, "Globex Media": 12}


@pytest.mark.django_db
def test_the_seed_refuses_a_negative_count_and_production(settings):
    with pytest.raises(DemoSeedError, match="negative"):
        demo_world_seed(profiles=-1)
    settings.IS_PRODUCTION = True
    with pytest.raises(DemoSeedError, match="production"):
        demo_world_seed(profiles=10)
    assert not Project.objects.exists()
