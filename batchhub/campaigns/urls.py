from django.urls import path

from batchhub.campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("campaigns/", views.campaign_index, name="index"),
    path("projects/<uuid:code>/campaigns/", views.campaign_list, name="list"),
    path("projects/<uuid:code>/campaigns/new/", views.campaign_create, name="create"),
    path("projects/<uuid:code>/campaigns/preview/", views.campaign_preview_render, name="preview"),
    path("campaigns/<uuid:code>/", views.campaign_detail, name="detail"),
    path("campaigns/<uuid:code>/edit/", views.campaign_edit, name="edit"),
    path("campaigns/<uuid:code>/delete/", views.campaign_delete, name="delete"),
]
