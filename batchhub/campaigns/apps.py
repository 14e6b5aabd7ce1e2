from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "batchhub.campaigns"
    label = "campaigns"
