from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "batchhub.connectors"
    label = "connectors"
