"""Django admin changes go to the same audit log as the dashboard's."""

from __future__ import annotations

from django.contrib import admin

from batchhub.core.audit.record import audit_record, model_snapshot, snapshot_diff


class AuditedModelAdmin(admin.ModelAdmin):
    """Records every create, update and delete made through the admin (secrets only as 'changed')."""

    def audit_project(self, obj):
        """The project an object belongs to (for the audit filter); override where it is not `obj.project`."""
        return getattr(obj, "project", None)

    def _action(self, obj, verb: str) -> str:
        return f"{obj._meta.model_name}.{verb}.admin"

    def save_model(self, request, obj, form, change):
        before = model_snapshot(type(obj).objects.get(pk=obj.pk)) if change and obj.pk else {}
        super().save_model(request, obj, form, change)
        changes = snapshot_diff(before, model_snapshot(obj))
        if changes or not change:
            audit_record(
                actor=request.user,
                action=self._action(obj, "update" if change else "create"),
                obj=obj,
                project=self.audit_project(obj),
                changes=changes,
            )

    def delete_model(self, request, obj):
        self._audit_delete(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self._audit_delete(request, obj)
        super().delete_queryset(request, queryset)

    def _audit_delete(self, request, obj) -> None:
        audit_record(actor=request.user, action=self._action(obj, "delete"), obj=obj, project=self.audit_project(obj))
