from django.urls import path

from batchhub.api import views

app_name = "api_calls"

urlpatterns = [
    path("<uuid:code>/api-activity/", views.activity, name="activity"),
    path("<uuid:code>/api-calls/", views.call_lookup, name="lookup"),
    path("<uuid:code>/api-calls/<uuid:token>/", views.call_detail, name="detail"),
]
