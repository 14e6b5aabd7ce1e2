from django.urls import path

from batchhub.profiles import views

app_name = "profiles"

urlpatterns = [
    path("projects/<uuid:code>/profiles/", views.profile_list, name="list"),
    path("projects/<uuid:code>/profiles/panel/", views.project_panel, name="panel"),
    path("projects/<uuid:code>/profiles/<uuid:profile_code>/", views.profile_detail, name="detail"),
    path("projects/<uuid:code>/purge/panel/", views.purge_panel, name="purge_panel"),
    path("projects/<uuid:code>/purge/shorten/", views.purge_shorten_preview, name="purge_shorten_preview"),
    path("projects/<uuid:code>/purge/shorten/confirm/", views.purge_shorten, name="purge_shorten"),
    path("projects/<uuid:code>/purge/shorten/cancel/", views.purge_shorten_cancel, name="purge_shorten_cancel"),
    path("projects/<uuid:code>/purge/runs/", views.purge_history, name="purge_history"),
]
