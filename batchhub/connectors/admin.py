from django.contrib import admin

from batchhub.connectors.models import InAppEvent, PushEvent


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
