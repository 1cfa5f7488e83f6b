from django.contrib import admin

from reports.models import Report


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "requester", "status", "progress", "created_at", "expires_at"]
    list_filter = ["status", "report_type"]
    search_fields = ["title", "requester__username"]
    raw_id_fields = ["requester"]
    readonly_fields = ["job_id", "started_at", "finished_at", "result"]
