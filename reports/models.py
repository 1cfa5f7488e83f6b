"""A report a member asked for: its request, progress, numbers and files.

The numbers are kept as JSON on the row (`result`); the CSV and the chart are files in
Django's default storage, served only through the reports views (they are private).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


class Status(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"  # files and numbers deleted; the request can be made again


PENDING = (Status.QUEUED, Status.RUNNING)


class Report(models.Model):
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports"
    )
    report_type = models.CharField(max_length=40)
    parameters = models.JSONField(help_text="validated by reports.registry")
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="percent")
    job_id = models.UUIDField(null=True, blank=True, help_text="its ReportGenerationJob")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True)
    csv_file = models.FileField(upload_to="reports/", blank=True)
    chart_file = models.FileField(upload_to="reports/", blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index("requester", models.F("created_at").desc(), name="report_requester_idx"),
            models.Index(
                fields=["expires_at"], name="report_expiry_idx", condition=Q(status="ready")
            ),
        ]
        constraints = [
            # The same request while one is pending is that one (request_report's dedupe,
            # also under a race between two clicks).
            models.UniqueConstraint(
                fields=["requester", "report_type", "parameters"],
                condition=Q(status__in=PENDING),
                name="report_one_pending_per_request",
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("reports:detail", args=[self.pk])

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class StoredFile(models.Model):
    """A file kept in PostgreSQL by reports.storage.DatabaseStorage (FILE_STORAGE=database):
    any web host serves what a worker on another host wrote, with no shared folder."""

    name = models.CharField(max_length=255, unique=True)
    content = models.BinaryField()
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name
