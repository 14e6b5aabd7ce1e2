from django.apps import AppConfig
from django.contrib.auth.signals import user_login_failed


class AccountsConfig(AppConfig):
    name = "batchhub.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.contrib import admin

        from batchhub.accounts.throttle import ThrottledAdminAuthenticationForm, login_failed

        user_login_failed.connect(login_failed, dispatch_uid="accounts:login_failed")
        admin.site.login_form = ThrottledAdminAuthenticationForm  # the admin's login is throttled as the dashboard's
