from django.contrib import admin

from batchhub.campaigns.models import Campaign, CampaignMessage


class CampaignMessageInline(admin.TabularInline):
    model = CampaignMessage
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "channel", "is_live", "project", "app", "updated_at", "deleted_at")
    list_filter = ("channel", "is_live", "from_api")
    search_fields = ("name", "token")
    readonly_fields = ("code", "token")
    inlines = [CampaignMessageInline]
