from django.contrib import admin

from batchhub.core.admin_audit import AuditedModelAdmin
from batchhub.projects.models import App, Customer, Project, ProjectGrant, RestApiKey


class AppInline(admin.TabularInline):
    model = App
    extra = 0
    can_delete = False
    max_num = 0
    fields = ("name", "platform", "live_api_key", "dev_api_key", "sdk_api_key")
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
    search_fields = ("name", "customer__name", "slug", "key")
    list_select_related = ("customer",)
    # Moving a project to another customer would switch the REST keys that open it: not an admin edit.
    # The inactivity period only shortens, through the dashboard (audited, checked): read-only here.
    readonly_fields = ("code", "key", "customer", "inactivity_months", "created_at", "updated_at")
    # Apps and grants are added from the dashboard, where their keys are shown once and every change is audited.
    inlines = [AppInline, GrantInline]

    def audit_project(self, obj):
        return obj


@admin.register(App)
class AppAdmin(AuditedModelAdmin):
    list_display = ("name", "platform", "project", "live_api_key")
    list_filter = ("platform",)
    search_fields = ("name", "live_api_key", "project__name")
    readonly_fields = ("code", "project", "live_api_key", "dev_api_key", "sdk_api_key", "created_at", "updated_at")


@admin.register(Customer)
class CustomerAdmin(AuditedModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    readonly_fields = ("code", "created_at")

    def audit_project(self, obj):
        return None


@admin.register(RestApiKey)
class RestApiKeyAdmin(AuditedModelAdmin):
    """Read-only: keys are created, rotated and revoked from the project page (audited, shown once)."""

    list_display = ("name", "customer", "project", "created_at", "last_used_at", "expires_at", "revoked_at")
    list_select_related = ("customer", "project")
    exclude = ("secret", "digest")
    readonly_fields = (
        "code",
        "customer",
        "project",
        "app",
        "name",
        "created_at",
        "created_by",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "rotated_to",
    )

    def has_add_permission(self, request):
        return False

    def audit_project(self, obj):
        return obj.project
