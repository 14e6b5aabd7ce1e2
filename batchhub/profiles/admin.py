from django.contrib import admin

from batchhub.profiles.models import Installation, Profile, ProfileEvent


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("custom_id", "email", "project", "last_activity_at")
    search_fields = ("=custom_id", "=email")
    list_select_related = ("project",)
    raw_id_fields = ("project",)
    show_full_result_count = False


@admin.register(ProfileEvent)
class ProfileEventAdmin(admin.ModelAdmin):
    list_display = ("name", "profile", "occurred_at", "source")
    raw_id_fields = ("profile",)
    show_full_result_count = False


@admin.register(Installation)
class InstallationAdmin(admin.ModelAdmin):
    list_display = ("installation_id", "app", "custom_id", "push_optin", "last_seen_at")
    raw_id_fields = ("app", "profile")
    search_fields = ("=installation_id", "=custom_id")
    show_full_result_count = False
