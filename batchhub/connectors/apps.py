from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "batchhub.connectors"
    label = "connectors"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from batchhub.api.auth import key_source_register
        from batchhub.connectors.models import Connector, ConnectorKey
        from batchhub.connectors.queries import connector_key_row, connector_key_used
        from batchhub.projects.panels import panel_register
        from batchhub.projects.signals import credentials_changed_relay

        # The API accepts connectors' keys beside the customers' (api.auth): for the connector's project and
        # features only. Any change to a connector or a key makes every process forget the keys it holds.
        key_source_register("connector", find=connector_key_row, used=connector_key_used)
        for model in (Connector, ConnectorKey):
            post_save.connect(
                credentials_changed_relay, sender=model, dispatch_uid=f"credentials:save:{model.__name__}"
            )
            post_delete.connect(
                credentials_changed_relay, sender=model, dispatch_uid=f"credentials:del:{model.__name__}"
            )
        panel_register(name="connectors", title="Connectors", url_name="connectors:panel", order=5)
