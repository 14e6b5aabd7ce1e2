from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from batchhub.accounts.models import Partner, User
from batchhub.core.audit.admin import AuditedModelAdmin


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Partner", {"fields": ("partner",)}))
    list_display = ("username", "email", "partner", "is_staff", "is_active")
    list_filter = ("groups", "partner", "is_staff", "is_active")


@admin.register(Partner)
class PartnerAdmin(AuditedModelAdmin):
    list_display = ("name", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("name",)
