from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "batchhub.demo"
    label = "demo"
