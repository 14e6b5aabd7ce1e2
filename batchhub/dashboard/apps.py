from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The pages that gather several apps (the per-role home, the site navigation): the top layer, so that no
    domain app has to import another one above it to show its figures."""

    name = "batchhub.dashboard"
    label = "dashboard"
