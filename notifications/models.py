"""In-app notifications, email preferences, and the log of every email attempt.

`EmailDelivery.idempotency_key` is unique: one row, and at most one sent email, per
(user, type, content) — or per event for per-event types (see notifications.types).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from notifications.types import NotificationType


class Notification(models.Model):
    """What the bell counts. Likes coalesce: one notification collects the likes of a post
    until its email goes out (`email_pending`), and `count` says how many there were."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    notification_type = models.CharField(max_length=30, choices=NotificationType.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    post = models.ForeignKey("forum.Post", on_delete=models.CASCADE, null=True, blank=True)
    comment = models.ForeignKey("forum.Comment", on_delete=models.CASCADE, null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    email_pending = models.BooleanField(default=False)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                "recipient", models.F("updated_at").desc(), name="notification_recipient_idx"
            ),
            models.Index(
                fields=["recipient"],
                name="notification_unread_idx",
                condition=models.Q(read_at__isnull=True),
            ),
            models.Index(
                fields=["read_at"],
                name="notification_read_idx",
                condition=models.Q(read_at__isnull=False),
            ),
        ]
        constraints = [
            # At most one like notification per post still collecting likes for its email.
            models.UniqueConstraint(
                fields=["recipient", "post"],
                condition=models.Q(
                    notification_type="new_like", email_pending=True, read_at__isnull=True
                ),
                name="notification_one_open_like_per_post",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.notification_type} for {self.recipient_id}"

    def get_absolute_url(self) -> str:
        if self.comment_id and self.post is not None:
            return f"{self.post.get_absolute_url()}#comment-{self.comment_id}"
        if self.post is not None:
            return self.post.get_absolute_url()
        return self.data.get("url", "")

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class EmailPreference(models.Model):
    """A member's choice for one optional type. No row means the email is wanted."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_preferences"
    )
    notification_type = models.CharField(max_length=30, choices=NotificationType.choices)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "notification_type"], name="emailpreference_once_per_type"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.notification_type}: {'on' if self.enabled else 'off'}"


class DeliveryStatus(models.TextChoices):
    SENDING = "sending"  # reserved: the send is under way (or the sender died mid-way)
    SENT = "sent"
    SKIPPED = "skipped"  # not wanted any more at send time; `reason` says why
    FAILED = "failed"  # the SMTP attempt raised; the job retries while attempts remain


class SkipReason(models.TextChoices):
    PREFERENCE_OFF = "preference_off", "the member turned this email off"
    CONTENT_DELETED = "content_deleted", "the content was deleted or hidden"
    ALREADY_READ = "already_read", "the member already read the notification"
    ALREADY_POSTED = "already_posted", "the member has posted since signing up"
    NO_ADDRESS = "no_address", "the member has no email address"


class EmailDelivery(models.Model):
    """One row per email the system meant to send, whatever became of it."""

    idempotency_key = models.CharField(max_length=200, unique=True)
    notification_type = models.CharField(max_length=30, choices=NotificationType.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="email_deliveries",
    )
    notification = models.ForeignKey(
        Notification, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to_email = models.EmailField(blank=True)
    subject = models.CharField(max_length=255, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices)
    reason = models.TextField(blank=True)
    job_id = models.CharField(max_length=64, blank=True, help_text="the job that last tried")
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "email deliveries"
        indexes = [models.Index(fields=["created_at"], name="emaildelivery_created_idx")]

    def __str__(self) -> str:
        return f"{self.notification_type} to {self.to_email or self.user_id}: {self.status}"
