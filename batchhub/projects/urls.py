from django.urls import path

from batchhub.projects import views

app_name = "projects"

urlpatterns = [
    path("", views.project_list, name="list"),
    path("new/", views.project_create, name="create"),
    path("<uuid:code>/", views.project_detail, name="detail"),
    path("<uuid:code>/apps/", views.app_create, name="app_create"),
    path("<uuid:code>/rest-keys/", views.rest_key_create, name="rest_key_create"),
    path("<uuid:code>/rest-keys/<uuid:key_code>/rotate/", views.rest_key_rotate, name="rest_key_rotate"),
    path("<uuid:code>/rest-keys/<uuid:key_code>/revoke/", views.rest_key_revoke, name="rest_key_revoke"),
    path("<uuid:code>/grants/", views.project_grant, name="grant"),
    path("<uuid:code>/grants/<uuid:partner_code>/revoke/", views.project_revoke, name="revoke"),
]
