from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "batchhub.accounts"
    label = "accounts"
