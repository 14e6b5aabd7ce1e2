from django.apps import AppConfig


class AudiencesConfig(AppConfig):
    name = "batchhub.audiences"
    label = "audiences"
