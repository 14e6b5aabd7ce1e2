from django.contrib import admin

from batchhub.core.data.deletions import profile_data_delete
from batchhub.profiles.models import Installation, Profile, ProfileEvent


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("custom_id", "email", "project", "last_activity_at")
    search_fields = ("=custom_id", "=email")
    list_select_related = ("project",)
    raw_id_fields = ("project",)
    show_full_result_count = False

    # A profile goes with what every app holds of it (core.data.deletions), not only what cascades from its row.
    def delete_model(self, request, obj: Profile) -> None:
        profile_data_delete(obj.project_id, profile_ids=[obj.pk])

    def delete_queryset(self, request, queryset) -> None:
        by_project: dict[int, list[int]] = {}
        for project_id, profile_id in queryset.values_list("project_id", "pk"):
            by_project.setdefault(project_id, []).append(profile_id)
        for project_id, profile_ids in by_project.items():
            profile_data_delete(project_id, profile_ids=profile_ids)


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
