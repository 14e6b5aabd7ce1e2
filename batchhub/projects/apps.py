from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class ProjectsConfig(AppConfig):
    name = "batchhub.projects"
    label = "projects"

    def ready(self) -> None:
        from batchhub.projects.api_auth import credentials_changed
        from batchhub.projects.models import App, Project, RestApiKey

        # The API keeps keys it found in memory until one of these changes (see api_auth._CredentialCache).
        for model in (App, Project, RestApiKey):
            post_save.connect(credentials_changed, sender=model, dispatch_uid=f"credentials:save:{model.__name__}")
            post_delete.connect(credentials_changed, sender=model, dispatch_uid=f"credentials:del:{model.__name__}")
