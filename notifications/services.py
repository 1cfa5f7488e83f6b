"""Every write to notifications: the triggers the forum calls, read marks, preferences.

Each trigger is one call from forum.services, inside its transaction: the in-app
notification and the email job (a ledger row, published on commit) land with the content
or not at all. The email itself is sent by the worker (notifications.emails).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.forms import PasswordResetForm
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from forum import ratelimit
from forum.models import Comment, Post, User
from notifications import selectors
from notifications.models import EmailDelivery, EmailPreference, Notification
from notifications.tasks import EmailNotificationJob, PasswordResetJob
from notifications.tokens import read_unsubscribe_token
from notifications.types import OPTIONAL_TYPES, NotificationType, kind_of

REMINDER_DELAY = timedelta(hours=1)
LIKE_EMAIL_INTERVAL = timedelta(hours=1)  # at most one like email per post and recipient

# --- Triggers (called from forum.services) ---------------------------------------------------


def notify_signed_up(*, user: User) -> None:
    EmailNotificationJob.delay(user.pk, NotificationType.WELCOME)
    # Re-checked when due: skipped if the member has posted by then.
    EmailNotificationJob.apply_async(
        [user.pk, NotificationType.REMINDER],
        countdown=REMINDER_DELAY.total_seconds(),
    )


def notify_new_comment(*, comment: Comment, post: Post) -> Notification | None:
    """Tell the post's author; nobody is told about their own comment."""
    if post.author_id == comment.author_id:
        return None
    notification = Notification.objects.create(
        recipient_id=post.author_id,
        notification_type=NotificationType.NEW_COMMENT,
        actor_id=comment.author_id,
        post=post,
        comment=comment,
        email_pending=True,
    )
    EmailNotificationJob.delay(post.author_id, NotificationType.NEW_COMMENT, comment.pk)
    return notification


@transaction.atomic
def notify_liked(*, post: Post, liker: User, comment: Comment | None = None) -> Notification | None:
    """Add a like to the recipient's open like notification for this post, or open one and
    schedule its email: no sooner than an hour after the last like email for the post."""
    recipient_id = (comment or post).author_id
    if recipient_id == liker.pk:
        return None
    open_likes = Notification.objects.select_for_update().filter(
        recipient_id=recipient_id,
        post=post,
        notification_type=NotificationType.NEW_LIKE,
        email_pending=True,
        read_at__isnull=True,
    )
    notification = open_likes.first()
    if notification is None:
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    recipient_id=recipient_id,
                    notification_type=NotificationType.NEW_LIKE,
                    actor=liker,
                    post=post,
                    comment=comment,
                    email_pending=True,
                )
        except IntegrityError:  # a concurrent like opened it first: join it
            notification = open_likes.get()
        else:
            EmailNotificationJob.apply_async(
                [recipient_id, NotificationType.NEW_LIKE, notification.pk],
                eta=_like_email_due(recipient_id=recipient_id, post=post),
            )
            return notification
    notification.count += 1
    notification.actor, notification.comment = liker, comment
    notification.updated_at = timezone.now()
    notification.save(update_fields=["count", "actor", "comment", "updated_at"])
    return notification


def notify_security_event(*, user: User, event: str, **details: str) -> None:
    """`event`: password_changed or email_changed (details: old_email, new_email)."""
    EmailNotificationJob.delay(
        user.pk,
        NotificationType.SECURITY_ALERT,
        data={"event": event, **details},
    )


def request_password_reset(*, email: str) -> None:
    """The "forgot password" form's call, the same whether or not an account uses `email`:
    PasswordResetJob finds the members in the worker."""
    PasswordResetJob.delay(email)


def send_password_resets(*, email: str) -> dict[str, int]:
    """PasswordResetJob: a reset email for each active member using `email` (Django's
    PasswordResetForm rules), at most as often as RATE_LIMITS["password_reset_email"] allows
    per member. The link is made by the worker at send time: no reset token is stored in the
    ledger."""
    queued = limited = 0
    for user in PasswordResetForm().get_users(email):
        if ratelimit.member_exceeded("password_reset_email", member_id=user.pk):
            limited += 1
            continue
        EmailNotificationJob.delay(user.pk, NotificationType.PASSWORD_RESET)
        queued += 1
    return {"queued": queued, "limited": limited}


@transaction.atomic
def notify_report_ready(
    *, user: User, report_id: int, title: str, url: str, error: str = ""
) -> Notification:
    """For the reports feature: `url` is where the member downloads the report. With an
    `error`, the report failed: the same type (one preference for report mail) says so."""
    data = {"title": title, "url": url, **({"error": error} if error else {})}
    notification = Notification.objects.create(
        recipient=user, notification_type=NotificationType.REPORT_READY, data=data
    )
    EmailNotificationJob.delay(user.pk, NotificationType.REPORT_READY, report_id, data=data)
    return notification


# --- Read marks ------------------------------------------------------------------------------


def notification_mark_read(*, user: User, notification_id: int) -> bool:
    return bool(
        Notification.objects.filter(
            pk=notification_id, recipient=user, read_at__isnull=True
        ).update(read_at=timezone.now())
    )


def notifications_mark_all_read(*, user: User) -> int:
    unread = selectors.notifications_shown(user=user).filter(read_at__isnull=True)
    return unread.update(read_at=timezone.now())


# --- Preferences and one-click unsubscribe -----------------------------------------------------


def email_preferences_set(*, user: User, enabled: dict[str, bool]) -> None:
    """Save the member's choices; critical types cannot be turned off and are refused."""
    for notification_type in enabled:
        if kind_of(notification_type).critical:
            raise ValueError(f"{notification_type} emails cannot be turned off.")
    now = timezone.now()
    EmailPreference.objects.bulk_create(
        [
            EmailPreference(user=user, notification_type=t, enabled=on, updated_at=now)
            for t, on in enabled.items()
        ],
        update_conflicts=True,
        unique_fields=["user", "notification_type"],
        update_fields=["enabled", "updated_at"],
    )


def email_unsubscribe(*, token: str) -> tuple[User, str]:
    """Turn off one type for the member the token names. Raises signing.BadSignature for a
    forged or mangled token and User.DoesNotExist for a deleted account."""
    user_id, notification_type = read_unsubscribe_token(token)
    if notification_type not in OPTIONAL_TYPES:
        raise signing.BadSignature(f"{notification_type} emails cannot be unsubscribed from.")
    user = User.objects.get(pk=user_id)
    email_preferences_set(user=user, enabled={notification_type: False})
    return user, notification_type


# --- Housekeeping ----------------------------------------------------------------------------


def notifications_prune(*, older_than: timedelta, batch_size: int = 1000) -> dict[str, int]:
    """Delete email deliveries and read notifications older than `older_than`, in batches."""
    cutoff = timezone.now() - older_than
    return {
        "email_deliveries": _delete_in_batches(
            EmailDelivery.objects.filter(created_at__lt=cutoff), batch_size
        ),
        "notifications": _delete_in_batches(
            Notification.objects.filter(read_at__lt=cutoff), batch_size
        ),
    }


def _delete_in_batches(queryset: QuerySet[Any], batch_size: int) -> int:
    total = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return total
        total += queryset.model.objects.filter(pk__in=ids).delete()[0]


def _like_email_due(*, recipient_id: int, post: Post) -> datetime:
    last = Notification.objects.filter(
        recipient_id=recipient_id, post=post, notification_type=NotificationType.NEW_LIKE
    ).aggregate(last=Max("emailed_at"))["last"]
    now = timezone.now()
    return max(now, last + LIKE_EMAIL_INTERVAL) if last else now
