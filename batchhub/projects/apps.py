from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class ProjectsConfig(AppConfig):
    name = "batchhub.projects"
    label = "projects"

    def ready(self) -> None:
        from batchhub.projects.models import App, Project, ProjectGrant, RestApiKey
        from batchhub.projects.signals import credentials_changed_relay

        # a grant opens a project to its partner's connector keys
        for model in (App, Project, ProjectGrant, RestApiKey):
            post_save.connect(
                credentials_changed_relay, sender=model, dispatch_uid=f"credentials:save:{model.__name__}"
            )
            post_delete.connect(
                credentials_changed_relay, sender=model, dispatch_uid=f"credentials:del:{model.__name__}"
            )
