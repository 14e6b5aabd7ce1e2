from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "batchhub.api"
    label = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        from batchhub.api.auth import credentials_changed
        from batchhub.projects.panels import panel_register
        from batchhub.projects.signals import credentials_changed as credentials_changed_signal

        # The API keeps keys it found in memory until an App, Project or RestApiKey changes (auth._CredentialCache).
        credentials_changed_signal.connect(credentials_changed, dispatch_uid="api:credentials_changed")
        panel_register(name="api-activity", title="API activity", url_name="api_calls:activity", order=50)
