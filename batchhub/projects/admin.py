from django.contrib import admin

from batchhub.core.admin_audit import AuditedModelAdmin
from batchhub.projects.models import App, Project, ProjectGrant


class AppInline(admin.TabularInline):
    model = App
    extra = 0
    can_delete = False
    max_num = 0
    fields = ("name", "platform", "live_api_key", "dev_api_key")
    readonly_fields = fields


class GrantInline(admin.TabularInline):
    model = ProjectGrant
    extra = 0
    can_delete = False
    max_num = 0
    fields = ("partner", "granted_by", "created_at")
    readonly_fields = fields


@admin.register(Project)
class ProjectAdmin(AuditedModelAdmin):
    list_display = ("name", "customer", "inactivity_months", "key", "created_at")
    search_fields = ("name", "customer", "slug", "key")
    # Secrets are rotated from the dashboard (audited, shown once); the admin never displays them.
    exclude = ("rest_api_key",)
    # The inactivity period only shortens, through the dashboard (audited, checked): read-only here.
    readonly_fields = ("code", "key", "inactivity_months", "created_at", "updated_at")
    # Apps and grants are added from the dashboard, where their keys are shown once and every change is audited.
    inlines = [AppInline, GrantInline]

    def audit_project(self, obj):
        return obj


@admin.register(App)
class AppAdmin(AuditedModelAdmin):
    list_display = ("name", "platform", "project", "live_api_key")
    list_filter = ("platform",)
    search_fields = ("name", "live_api_key", "project__name")
    exclude = ("rest_api_key",)
    readonly_fields = ("code", "project", "live_api_key", "dev_api_key", "created_at", "updated_at")
