from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "batchhub.campaigns"
    label = "campaigns"

    def ready(self) -> None:
        from batchhub.api.appliers import applier_register
        from batchhub.campaigns.applying import APPLIERS
        from batchhub.campaigns.sending import SEND_KIND, transactional_send_apply
        from batchhub.core.roles import CSM
        from batchhub.projects.panels import panel_register

        for kind, (apply, label) in APPLIERS.items():
            applier_register(kind, apply, label=label)
        applier_register(SEND_KIND, transactional_send_apply, label="Transactional send")
        panel_register(
            name="campaigns", title="Campaigns and templates", url_name="campaigns:panel", order=30, roles=(CSM,)
        )
