import datetime as dt

from django.urls import path, register_converter

from batchhub.connectors import views


class DayConverter:
    """A UTC day in a URL, YYYY-MM-DD (an impossible date is no match: a 404)."""

    regex = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"

    def to_python(self, value: str) -> dt.date:
        return dt.date.fromisoformat(value)  # ValueError: no match

    def to_url(self, value: dt.date) -> str:
        return value.isoformat()


register_converter(DayConverter, "day")

app_name = "connectors"
_EXPORT = "connectors/<uuid:code>/exports/<uuid:export_code>"

urlpatterns = [
    path("connectors/", views.connector_list, name="list"),
    path("connectors/new/", views.connector_create, name="create"),
    path("connectors/<uuid:code>/", views.connector_detail, name="detail"),
    path("connectors/<uuid:code>/edit/", views.connector_edit, name="edit"),
    path("connectors/<uuid:code>/pause/", views.connector_pause, name="pause"),
    path("connectors/<uuid:code>/resume/", views.connector_resume, name="resume"),
    path("connectors/<uuid:code>/delete/", views.connector_delete, name="delete"),
    path("connectors/<uuid:code>/keys/", views.key_create, name="key_create"),
    path("connectors/<uuid:code>/keys/<uuid:key_code>/rotate/", views.key_rotate, name="key_rotate"),
    path("connectors/<uuid:code>/keys/<uuid:key_code>/revoke/", views.key_revoke, name="key_revoke"),
    path("projects/<uuid:code>/connectors/", views.project_panel, name="panel"),
    path("connectors/<uuid:code>/exports/new/", views.export_config_edit, name="export_create"),
    path("connectors/<uuid:code>/exports/<uuid:export_code>/", views.export_config_edit, name="export_edit"),
    path("connectors/<uuid:code>/exports/<uuid:export_code>/delete/", views.export_config_delete, name="export_delete"),
    path("connectors/<uuid:code>/exports/<uuid:export_code>/run/", views.export_run_now, name="export_run"),
    path(f"{_EXPORT}/runs/<day:day>/", views.export_run_detail, name="export_run_detail"),
    path(f"{_EXPORT}/runs/<day:day>/progress/", views.export_run_progress, name="export_run_progress"),
    path(f"{_EXPORT}/backfill/", views.export_backfill, name="export_backfill"),
    path(
        f"{_EXPORT}/backfills/<uuid:backfill_code>/progress/",
        views.export_backfill_progress,
        name="export_backfill_progress",
    ),
]
for _direction in ("destination", "source"):
    _extra = {"direction": _direction}
    urlpatterns += [
        path(f"connectors/<uuid:code>/{_direction}s/new/", views.storage_edit, _extra, name=f"{_direction}_create"),
        path(
            f"connectors/<uuid:code>/{_direction}s/<uuid:storage_code>/",
            views.storage_edit,
            _extra,
            name=f"{_direction}_edit",
        ),
        path(
            f"connectors/<uuid:code>/{_direction}s/<uuid:storage_code>/test/",
            views.storage_test,
            _extra,
            name=f"{_direction}_test",
        ),
        path(
            f"connectors/<uuid:code>/{_direction}s/<uuid:storage_code>/delete/",
            views.storage_delete,
            _extra,
            name=f"{_direction}_delete",
        ),
    ]
