from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "batchhub.core"
    label = "core"

    def ready(self) -> None:
        from django.core.signals import request_started

        from batchhub.core.web.outage import dead_connections_dropped

        request_started.connect(dead_connections_dropped, dispatch_uid="core:dead_connections_dropped")

        from batchhub.core.jobs.retention import retention_register
        from batchhub.core.jobs.tasking import task_deliveries_finished_before

        retention_register(
            "core.task_deliveries",
            "Finished task deliveries, TASK_DELIVERY_DAYS (7) days after their last start.",
            due=task_deliveries_finished_before,
        )
