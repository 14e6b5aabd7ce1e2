from django.contrib import admin

from batchhub.campaigns.models import Campaign


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "channel", "is_live", "project", "updated_at")
    list_filter = ("channel", "is_live")
    search_fields = ("name", "token")
    readonly_fields = ("code", "token")
