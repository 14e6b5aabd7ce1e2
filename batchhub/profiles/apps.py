from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "batchhub.profiles"
    label = "profiles"

    def ready(self) -> None:
        from batchhub.api.appliers import applier_register
        from batchhub.profiles.services import APPLIERS

        for kind, (apply, label) in APPLIERS.items():
            applier_register(kind, apply, label=label)
