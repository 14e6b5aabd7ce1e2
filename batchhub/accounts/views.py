from __future__ import annotations

from django.contrib.auth import views as auth_views

from batchhub.accounts.throttle import ThrottledAuthenticationForm


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True
    authentication_form = ThrottledAuthenticationForm
