from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "batchhub.campaigns"
    label = "campaigns"

    def ready(self) -> None:
        from batchhub.api.appliers import applier_register
        from batchhub.campaigns.applying import APPLIERS

        for kind, (apply, label) in APPLIERS.items():
            applier_register(kind, apply, label=label)
