from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "batchhub.campaigns"
    label = "campaigns"

    def ready(self) -> None:
        from batchhub.api.appliers import applier_register
        from batchhub.campaigns.applying import APPLIERS
        from batchhub.campaigns.sending import SEND_KIND, transactional_send_apply

        for kind, (apply, label) in APPLIERS.items():
            applier_register(kind, apply, label=label)
        applier_register(SEND_KIND, transactional_send_apply, label="Transactional send")
