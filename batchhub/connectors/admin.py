from django.contrib import admin

from batchhub.connectors.models import Connector, InAppEvent, PushEvent


@admin.register(PushEvent)
class PushEventAdmin(admin.ModelAdmin):
    list_display = ("type", "app", "custom_id", "occurred_at", "source", "token")
    list_filter = ("type",)
    raw_id_fields = ("app", "installation")
    show_full_result_count = False


@admin.register(InAppEvent)
class InAppEventAdmin(admin.ModelAdmin):
    list_display = ("type", "app", "custom_id", "occurred_at", "campaign_token")
    list_filter = ("type",)
    raw_id_fields = ("app", "installation")
    show_full_result_count = False


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):
    """Read-only: partners configure their connectors on the dashboard (audited there); keys and storage
    credentials are not shown here at all."""

    list_display = ("name", "partner", "project", "kind", "status", "updated_at")
    list_filter = ("kind", "status")
    search_fields = ("name", "partner__name", "project__name")
    fields = ("name", "partner", "project", "kind", "features", "status", "paused_reason", "last_error", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
