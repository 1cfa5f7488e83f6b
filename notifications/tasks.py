"""EmailNotificationJob (the seed's job) and the daily prune of the notification tables."""

from __future__ import annotations

import smtplib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ObjectDoesNotExist

from jobs.base import ApplicationJob, register
from notifications.emails import SERVER_DOWN_ERRORS, mail_server_answers, send_notification_email
from notifications.types import (
    NotificationType,
    RecipientUnavailable,
    UnknownNotificationType,
    kind_of,
)

if TYPE_CHECKING:
    pass


@register
class EmailNotificationJob(ApplicationJob):
    """`EmailNotificationJob.delay(user.id, "welcome")`. The queue follows the type (security
    alerts and password resets on high_priority) unless `queue=` is given."""

    max_attempts = 5
    # Retries 10, 20, 40, 80 s apart (+ jitter): emails outlast an SMTP outage of 2.5 min
    # (docs/RELIABILITY.md, finding 2, has the fault run behind it).
    retry_backoff = 10.0
    # smtplib's errors and refused connections are OSErrors; listed for the reader.
    retry_on = (smtplib.SMTPException, ConnectionError, OSError)
    # Emails that wait for a retry because the mail server was down go out within seconds of
    # its return (the dispatcher probes it every few seconds), not at the end of a back-off
    # that can reach 80 s.
    retry_probe = staticmethod(mail_server_answers)
    retry_probe_errors = SERVER_DOWN_ERRORS
    discard_on = (ObjectDoesNotExist, UnknownNotificationType, RecipientUnavailable)

    def run(
        self,
        user_id: int,
        notification_type: str,
        content_id: int | None = None,
        data: dict | None = None,
    ) -> dict:
        # An unknown type that got past the enqueue check (`celery call`) raises
        # UnknownNotificationType and a missing member RecipientUnavailable: both discarded.
        outcome = send_notification_email(
            user_id=user_id,
            notification_type=notification_type,
            content_id=content_id,
            data=data,
            job_id=self.request.id or "",
        )
        return {"delivery": outcome.delivery_id, "status": outcome.status, "reason": outcome.reason}

    def validate(
        self, *, notification_type: str, data: dict[str, Any] | None, **_arguments: Any
    ) -> None:
        """Refuse an unknown type, or a report_ready email without its link, at enqueue."""
        kind_of(notification_type)
        if notification_type == NotificationType.REPORT_READY and not (data or {}).get("url"):
            raise ValueError("report_ready needs data={'url': …}: the link to the report.")

    def queue_for(self, *, notification_type: str, **_arguments: Any) -> str:
        return kind_of(notification_type).queue


@register
class PasswordResetJob(ApplicationJob):
    """`PasswordResetJob.delay(email)`, from the "forgot password" form. The members using
    the address are looked up here rather than in the request, so the form does the same work
    for every address and its answer, timing included, says nothing of who has an account."""

    queue = "high_priority"

    def validate(self, *, email: object) -> None:
        if not isinstance(email, str):
            raise TypeError(
                f"PasswordResetJob takes the email address as typed (a string), not {email!r}:"
                " call notifications.services.request_password_reset(email=…)."
            )

    def run(self, email: str) -> dict:
        from notifications.services import send_password_resets  # it imports this module

        self.check_arguments([email], {})  # a message sent around the enqueue (celery call)
        return send_password_resets(email=email)


@register
class PruneNotificationsJob(ApplicationJob):
    """Daily (beat): delete email deliveries and read notifications older than N days."""

    max_attempts = 1

    def run(self, older_than_days: int = 30) -> dict:
        from notifications.services import notifications_prune  # it imports this module

        return notifications_prune(older_than=timedelta(days=older_than_days))
