from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "batchhub.core"
    label = "core"

    def ready(self) -> None:
        from django.core.signals import request_started

        from batchhub.core.outage import dead_connections_dropped

        request_started.connect(dead_connections_dropped, dispatch_uid="core:dead_connections_dropped")
