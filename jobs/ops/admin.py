from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import URLPattern

from jobs.ledger import pauses
from jobs.models import Job, Process, QueuePause
from jobs.ops import operations
from jobs.ops.admin_views import JobsDashboard, StaffRequest

# `# type: ignore[type-arg]` on the classes below: ModelAdmin is generic in django-stubs only;
# `admin.ModelAdmin[Job]` fails at run time without django_stubs_ext.monkeypatch(), a dev-only
# package the production image does not install.


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
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
    change_list_template = "admin/jobs/job/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        return JobsDashboard(self).urls(self.admin_site.admin_view) + super().get_urls()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        return False  # jobs end by discard or prune, which keep the counters true

    def save_model(
        self, request: HttpRequest, obj: Job, form: ModelForm[Job], change: bool
    ) -> None:
        """Every field is read-only and job rows change only in the ledger (jobs.ledger.writes): the
        change form's Save writes nothing, rather than put back the row it read over a
        worker's concurrent claim or outcome."""

    # Actions need the change permission: without it admin offers them to anyone who can view.
    @admin.action(description="Retry selected failed/discarded jobs", permissions=["change"])
    def retry_jobs(self, request: StaffRequest, queryset: QuerySet[Job]) -> None:
        count = operations.retry(jobs=queryset, user=request.user, how="in admin")
        self.message_user(
            request, f"Re-enqueued {count} job(s) with their original arguments.", messages.SUCCESS
        )

    @admin.action(
        description="Discard selected jobs that have not finished", permissions=["change"]
    )
    def discard_jobs(self, request: StaffRequest, queryset: QuerySet[Job]) -> None:
        count = operations.discard(jobs=queryset, user=request.user, how="in admin")
        self.message_user(request, f"Discarded {count} job(s).", messages.SUCCESS)


@admin.register(Process)
class ProcessAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Live processes (Mission Control's workers page): read-only; rows come and go."""

    list_display = (
        "kind",
        "name",
        "hostname",
        "pid",
        "queues",
        "last_heartbeat_at",
        "started_at",
        "quiet_since",
    )
    list_filter = ("kind", "hostname")
    ordering = ("kind", "hostname", "pid")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Process | None = None) -> bool:
        return False


@admin.register(QueuePause)
class QueuePauseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Adding a row pauses a queue, deleting it resumes (the same as `jobs pause/resume`)."""

    list_display = ("queue", "paused_at")
    fields = ("queue",)

    def save_model(
        self, request: HttpRequest, obj: QueuePause, form: ModelForm[QueuePause], change: bool
    ) -> None:
        pauses.pause(obj.queue)

    def delete_model(self, request: HttpRequest, obj: QueuePause) -> None:
        pauses.resume(obj.queue)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[QueuePause]) -> None:
        for pause in queryset:
            pauses.resume(pause.queue)
