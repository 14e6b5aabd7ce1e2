from django.urls import path

from batchhub.core import views

app_name = "core"

urlpatterns = [
    path("audit/", views.audit_log, name="audit_log"),
    path("retention/", views.retention, name="retention"),
    path("retention/start/", views.retention_start, name="retention_start"),
    path("retention/runs/<int:run_id>/progress/", views.retention_progress, name="retention_progress"),
]
