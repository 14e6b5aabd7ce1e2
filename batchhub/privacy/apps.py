from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "batchhub.privacy"
    label = "privacy"
