from django.contrib import admin
from django.urls import include, path

from batchhub.core import views as core_views
from batchhub.rest import api

handler500 = "batchhub.core.views.server_error"

admin.site.site_header = "BatchHub staff admin"
admin.site.site_title = "BatchHub admin"

urlpatterns = [
    path("", include("batchhub.dashboard.urls")),
    path("", include("batchhub.accounts.urls")),
    path("projects/", include("batchhub.projects.urls")),
    path("projects/", include("batchhub.api.urls")),
    path("", include("batchhub.profiles.urls")),
    path("", include("batchhub.connectors.urls")),
    path("", include("batchhub.campaigns.urls")),
    path("", include("batchhub.core.urls")),
    path("healthz", core_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # The REST API last: its routes are patterns like <version>/<api_key>/data/users.
    path("", api.urls),
]
