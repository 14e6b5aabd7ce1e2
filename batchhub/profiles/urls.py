from django.urls import path

from batchhub.profiles import views

app_name = "profiles"

urlpatterns = [
    path("projects/<uuid:code>/profiles/", views.profile_list, name="list"),
    path("projects/<uuid:code>/profiles/panel/", views.project_panel, name="panel"),
    path("projects/<uuid:code>/profiles/<uuid:profile_code>/", views.profile_detail, name="detail"),
]
