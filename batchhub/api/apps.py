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

        from batchhub.api import services
        from batchhub.core.jobs.retention import retention_register

        retention_register(
            "api.failed_bodies",
            "Bodies of API calls that failed to apply, API_FAILED_BODY_DAYS (7) days after the call; the row stays.",
            due=services.failed_bodies_due,
            clear={"operations": ""},
        )
        retention_register(
            "api.calls",
            "API call rows (route, status, counts, timing), API_CALL_DAYS (90) days after the call.",
            due=services.old_calls_due,
        )
        retention_register(
            "api.idempotency",
            "Idempotency-Key records, 24 hours after the write.",
            due=services.idempotency_records_due,
        )
        from batchhub.core.data.deletions import deletion_register

        # An erasure empties the failed calls' bodies that name the person; the purge of inactive profiles is not an
        # erasure (failed bodies go after API_FAILED_BODY_DAYS anyway).
        deletion_register("api.stored_bodies", services.stored_bodies_erase, purge=False)
