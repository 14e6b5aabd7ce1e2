"""Reads of the demo world: the logins and keys that `demo_credentials` prints."""

from __future__ import annotations

from django.utils import timezone

from batchhub.accounts.models import User
from batchhub.connectors.models import Connector
from batchhub.demo import world
from batchhub.projects.models import App, Project
from batchhub.projects.queries import company_rest_keys_active

PLATFORM_ORDER = {platform: n for n, platform in enumerate(world.PLATFORMS)}


class DemoWorldMissing(Exception):
    """The demo world has not been seeded (or part of it was removed)."""


def demo_credentials() -> dict:
    """Demo logins per role and each demo app's keys, secrets revealed: for a demo database only."""
    users = {
        user.username: user
        for user in User.objects.filter(username__in=[login.username for login in world.LOGINS]).select_related(
            "partner"
        )
    }
    projects = {project.slug: project for project in Project.objects.filter(slug__in=[p.slug for p in world.PROJECTS])}
    missing = [login.username for login in world.LOGINS if login.username not in users]
    missing += [spec.name for spec in world.PROJECTS if spec.slug not in projects]
    if missing:
        raise DemoWorldMissing(
            f"The demo world is not seeded (missing: {', '.join(missing)}); run `python manage.py seed_demo`."
        )

    logins = [
        {
            "role": login.role,
            "username": login.username,
            "password": login.password,
            "partner": users[login.username].partner.name if users[login.username].partner else None,
        }
        for login in world.LOGINS
    ]
    apps = []
    for spec in world.PROJECTS:
        project = projects[spec.slug]
        company_keys = company_rest_keys_active(project.customer)  # the newest: not one ending its overlap
        if not company_keys:
            raise DemoWorldMissing(f"{project.customer} has no company REST key. Run `python manage.py seed_demo`.")
        rest_key = company_keys[0].secret.reveal()
        demo_apps = sorted(
            App.objects.filter(project=project, name=spec.app_name),
            key=lambda app: PLATFORM_ORDER[app.platform],
        )
        if not demo_apps:
            raise DemoWorldMissing(f"The demo project {project.name} has no apps. Run `python manage.py seed_demo`.")
        apps += [
            {
                "project": project.name,
                "project_key": project.key,
                "project_rest_api_key": rest_key,
                "app": app.name,
                "platform": app.platform,
                "live_api_key": app.live_api_key,
                "sdk_api_key": app.sdk_api_key,
                "rest_api_key": rest_key,  # the company key: the same for every app and project of the customer
            }
            for app in demo_apps
        ]
    connectors = [
        {
            "partner": connector.partner.name,
            "project": connector.project.name,
            "connector": connector.name,
            "code": str(connector.code),
            "kind": connector.kind,
            "features": connector.features,
            "api_key": key.secret.reveal() if (key := _key_working(connector)) else None,
            "project_key": connector.project.key,
        }
        for connector in Connector.objects.filter(
            project__slug__in=[p.slug for p in world.PROJECTS], partner__name__in=[p.name for p in world.PARTNERS]
        )
        .select_related("partner", "project")
        .order_by("partner__name", "project__name")
    ]
    return {"logins": logins, "apps": apps, "connectors": connectors}


def _key_working(connector: Connector):
    now = timezone.now()
    return next((key for key in connector.keys.order_by("-created_at") if key.is_active_at(now)), None)
