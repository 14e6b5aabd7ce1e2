from django.urls import path

from batchhub.campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("campaigns/", views.campaign_index, name="index"),
    path("projects/<uuid:code>/campaigns/", views.campaign_list, name="list"),
    path("projects/<uuid:code>/campaigns/new/", views.campaign_create, name="create"),
    path("projects/<uuid:code>/campaigns/preview/", views.campaign_preview_render, name="preview"),
    path("projects/<uuid:code>/campaigns/panel/", views.project_panel, name="panel"),
    path("projects/<uuid:code>/templates/", views.project_picker, name="project_picker"),
    path(
        "projects/<uuid:code>/templates/<uuid:campaign_code>/",
        views.project_picker_preview,
        name="project_picker_preview",
    ),
    path("campaigns/<uuid:code>/", views.campaign_detail, name="detail"),
    path("campaigns/<uuid:code>/edit/", views.campaign_edit, name="edit"),
    path("campaigns/<uuid:code>/delete/", views.campaign_delete, name="delete"),
    path("connectors/<uuid:code>/templates/", views.picker, name="picker"),
    path("connectors/<uuid:code>/templates/bind/", views.picker_bind, name="picker_bind"),
    path("connectors/<uuid:code>/templates/bindings/", views.picker_bindings, name="picker_bindings"),
    path(
        "connectors/<uuid:code>/templates/bindings/<uuid:binding_code>/refresh/",
        views.picker_binding_refresh,
        name="picker_binding_refresh",
    ),
    path(
        "connectors/<uuid:code>/templates/bindings/<uuid:binding_code>/delete/",
        views.picker_binding_delete,
        name="picker_binding_delete",
    ),
    path("connectors/<uuid:code>/templates/<uuid:campaign_code>/", views.picker_preview, name="picker_preview"),
]
