from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from batchhub.core.audit.admin import AuditedModelAdmin
from batchhub.projects.models import App, Customer, Project, ProjectGrant, RestApiKey
from batchhub.projects.services import (
    TableRows,
    customer_delete_request,
    deletion_plan_for,
    deletion_rows_count,
    project_delete_request,
)
from batchhub.projects.tasks import customer_delete_soon, project_delete_soon


class DeleteInBackgroundAdmin(AuditedModelAdmin):
    """Deletes through a service and a background task: the confirmation counts the rows per table and never lists
    them (Django's page collects and prints every related row: 38.8 MB and 31 s for a project of 23k profiles)."""

    delete_confirmation_template = "admin/projects/delete_in_background.html"

    def delete_in_background(self, request, obj) -> list[TableRows]:
        """Mark `obj` and queue its deletion; returns the rows that go, per table."""
        raise NotImplementedError

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it collects every row of every selected object: one at a time here
        return actions

    def _tables_not_deletable(self, request, obj) -> list[str]:
        """As Django's page: the kinds of rows going with `obj` (those in the admin) that this user may not delete.
        By permission, not by the admins' has_delete_permission: an app has no delete page of its own, yet goes
        with its project."""
        return [
            str(model._meta.verbose_name_plural)
            for model in deletion_plan_for(obj)
            if self.admin_site.is_registered(model)
            and not request.user.has_perm(f"{model._meta.app_label}.{get_permission_codename('delete', model._meta)}")
        ]

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        lacking = self._tables_not_deletable(request, obj)
        if request.method == "POST":
            if lacking:
                raise PermissionDenied
            tables = self.delete_in_background(request, obj)
            going = ", ".join(f"{t.rows:,} {t.name}" for t in tables if t.rows) or "nothing else"
            self.message_user(
                request,
                f"{self.opts.verbose_name.capitalize()} {obj} is being deleted in the background ({going}).",
                messages.SUCCESS,
            )
            changelist = f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"
            return HttpResponseRedirect(reverse(changelist, current_app=self.admin_site.name))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Delete {self.opts.verbose_name} {obj}?",
            "subtitle": None,
            "object": obj,
            "object_name": str(self.opts.verbose_name),
            "tables": deletion_rows_count(obj),
            "perms_lacking": lacking,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.delete_confirmation_template, context)


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
class ProjectAdmin(DeleteInBackgroundAdmin):
    list_display = ("name", "customer", "inactivity_months", "key", "created_at", "deleting_since")
    search_fields = ("name", "customer__name", "slug", "key")
    list_select_related = ("customer",)
    # Moving a project to another customer would switch the REST keys that open it: not an admin edit.
    # The inactivity period only shortens, through the dashboard (audited, checked): read-only here.
    readonly_fields = ("code", "key", "customer", "inactivity_months", "created_at", "updated_at", "deleting_since")
    # Apps and grants are added from the dashboard, where their keys are shown once and every change is audited.
    inlines = [AppInline, GrantInline]

    def audit_project(self, obj):
        return obj

    def has_change_permission(self, request, obj=None):
        return (obj is None or obj.deleting_since is None) and super().has_change_permission(request, obj)

    def delete_in_background(self, request, obj):
        tables = project_delete_request(actor=request.user, project=obj)
        project_delete_soon(obj.pk)
        return tables


@admin.register(App)
class AppAdmin(AuditedModelAdmin):
    list_display = ("name", "platform", "project", "live_api_key")
    list_filter = ("platform",)
    search_fields = ("name", "live_api_key", "project__name")
    readonly_fields = ("code", "project", "live_api_key", "dev_api_key", "sdk_api_key", "created_at", "updated_at")

    def has_delete_permission(self, request, obj=None):
        # Its installations and events are bulk rows that Django's delete page would list one by one: an app goes
        # with its project, deleted in the background.
        return False


@admin.register(Customer)
class CustomerAdmin(DeleteInBackgroundAdmin):
    """A customer's deletion is its projects' deletions, then its own REST keys and itself."""

    list_display = ("name", "created_at", "deleting_since")
    search_fields = ("name",)
    readonly_fields = ("code", "created_at", "deleting_since")

    def audit_project(self, obj):
        return None

    def has_change_permission(self, request, obj=None):
        return (obj is None or obj.deleting_since is None) and super().has_change_permission(request, obj)

    def delete_in_background(self, request, obj):
        tables = customer_delete_request(actor=request.user, customer=obj)
        customer_delete_soon(obj.pk)
        return tables


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
