from django.contrib import admin, messages

from jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """The ledger in admin: inspect, retry and discard (Mission Control's job pages)."""

    list_display = (
        "id",
        "class_name",
        "state",
        "queue",
        "priority",
        "attempts",
        "scheduled_at",
        "finished_at",
        "error_class",
    )
    list_filter = ("state", "queue", "class_name")
    search_fields = ("=id", "class_name", "error_message")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    show_full_result_count = False
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ["retry_jobs", "discard_jobs"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Retry selected failed/discarded jobs")
    def retry_jobs(self, request, queryset):
        count = queryset.retry()
        self.message_user(
            request, f"Re-enqueued {count} job(s) with their original arguments.", messages.SUCCESS
        )

    @admin.action(description="Discard selected jobs that have not finished")
    def discard_jobs(self, request, queryset):
        count = queryset.discard(reason=f"discarded by {request.user.get_username()} in admin")
        self.message_user(request, f"Discarded {count} job(s).", messages.SUCCESS)
