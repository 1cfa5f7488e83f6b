"""The notification types: which queue each email takes and whether a member can turn it off.

One table for the job, the services, the preferences page and the templates, so adding a type
is one row here plus its three templates (`emails/<type>_subject.txt`, `.txt`, `.html`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


class NotificationType(models.TextChoices):
    WELCOME = "welcome", "Welcome email after sign-up"
    NEW_COMMENT = "new_comment", "Someone comments on your post"
    NEW_LIKE = "new_like", "Someone likes your post or comment (at most one email an hour)"
    REMINDER = "reminder", "A reminder to write your first post"
    REPORT_READY = "report_ready", "A report you asked for is ready"
    SECURITY_ALERT = "security_alert", "Security alerts (password or email changed)"
    PASSWORD_RESET = "password_reset", "Password reset links"


@dataclass(frozen=True)
class EmailKind:
    queue: str
    # Critical mail (Discourse's CRITICAL_EMAIL_TYPES) ignores preferences and carries no
    # unsubscribe link: a member must not be able to opt out of hearing about a takeover.
    critical: bool = False
    # One email per event rather than per content: the job id is part of the idempotency key.
    per_event: bool = False


KINDS: dict[str, EmailKind] = {
    NotificationType.WELCOME: EmailKind(queue="default"),
    NotificationType.NEW_COMMENT: EmailKind(queue="default"),
    NotificationType.NEW_LIKE: EmailKind(queue="default"),
    NotificationType.REMINDER: EmailKind(queue="default"),
    NotificationType.REPORT_READY: EmailKind(queue="default", per_event=True),
    NotificationType.SECURITY_ALERT: EmailKind(
        queue="high_priority", critical=True, per_event=True
    ),
    NotificationType.PASSWORD_RESET: EmailKind(
        queue="high_priority", critical=True, per_event=True
    ),
}

OPTIONAL_TYPES = [t for t in NotificationType if not KINDS[t].critical]


class UnknownNotificationType(ValueError):
    pass


class RecipientUnavailable(Exception):
    """The member is gone or deactivated: the job is discarded, not retried."""


def kind_of(notification_type: str) -> EmailKind:
    """The type's settings; ValueError naming the valid types when there is no such type."""
    try:
        return KINDS[notification_type]
    except KeyError:
        raise UnknownNotificationType(
            f"Unknown notification_type {notification_type!r}: use one of {', '.join(KINDS)}."
        ) from None
