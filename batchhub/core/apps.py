from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "batchhub.core"
    label = "core"
