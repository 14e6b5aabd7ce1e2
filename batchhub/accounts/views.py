from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from batchhub.accounts.models import Partner
from batchhub.accounts.throttle import ThrottledAuthenticationForm
from batchhub.core.queries import audit_events_for_user, worker_heartbeats
from batchhub.core.roles import CSM, PARTNER, PRIVACY_ADMIN, primary_role
from batchhub.profiles.queries import profiles_total_estimate
from batchhub.projects.models import App
from batchhub.projects.queries import project_list_rows


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True
    authentication_form = ThrottledAuthenticationForm


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard home: what each role needs first."""
    role = primary_role(request.user)
    projects = list(project_list_rows(request.user)[:20])
    context: dict = {"role": role, "projects": projects}
    if role == CSM:
        context.update(
            stats={
                "projects": project_list_rows(request.user).count(),
                "apps": App.objects.count(),
                "partners": Partner.objects.count(),
                "profiles": profiles_total_estimate(),
            },
            recent_audit=list(audit_events_for_user(request.user)[:8]),
            heartbeats=worker_heartbeats(),
        )
    elif role == PRIVACY_ADMIN:
        context.update(recent_audit=list(audit_events_for_user(request.user)[:8]))
    elif role == PARTNER:
        context.update(partner=request.user.partner, apps_by_project=_apps_by_project(projects))
    return render(request, f"accounts/home_{role or 'none'}.html", context)


def _apps_by_project(projects) -> dict:
    apps: dict = {p.pk: [] for p in projects}
    for app in App.objects.filter(project__in=[p.pk for p in projects]).order_by("platform"):
        apps[app.project_id].append(app)
    return apps
