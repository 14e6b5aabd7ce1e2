from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "batchhub.profiles"
    label = "profiles"
