from django.contrib import admin
from django.http import HttpRequest

from notifications.models import EmailDelivery, EmailPreference, Notification


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(admin.ModelAdmin):
    """Every email attempt: sent, skipped (with why), failed (with the SMTP error)."""

    list_display = (
        "created_at",
        "notification_type",
        "to_email",
        "subject",
        "status",
        "reason",
        "attempts",
    )
    list_filter = ("status", "notification_type")
    search_fields = ("to_email", "=idempotency_key", "subject", "=job_id")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
    readonly_fields = [f.name for f in EmailDelivery._meta.fields]
    raw_id_fields = ("user", "notification")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "recipient", "notification_type", "count", "read_at")
    list_filter = ("notification_type",)
    search_fields = ("recipient__username",)
    ordering = ("-created_at",)
    raw_id_fields = ("recipient", "actor", "post", "comment")
    show_full_result_count = False


@admin.register(EmailPreference)
class EmailPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "notification_type", "enabled", "updated_at")
    list_filter = ("notification_type", "enabled")
    raw_id_fields = ("user",)
