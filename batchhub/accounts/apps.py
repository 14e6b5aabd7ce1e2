from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_in


class AccountsConfig(AppConfig):
    name = "batchhub.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.contrib import admin

        from batchhub.accounts.throttle import ThrottledAdminAuthenticationForm, login_succeeded

        user_logged_in.connect(login_succeeded, dispatch_uid="accounts:login_succeeded")
        admin.site.login_form = ThrottledAdminAuthenticationForm  # the admin's login is throttled as the dashboard's
