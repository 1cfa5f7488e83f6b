"""Every read the notification pages and emails make."""

from __future__ import annotations

from functools import cache

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import QuerySet
from django.urls import reverse

from config import prepared
from forum.models import Comment, Post, User
from forum.selectors import sees_hidden
from notifications.models import EmailDelivery, EmailPreference, Notification
from notifications.tokens import make_unsubscribe_token
from notifications.types import OPTIONAL_TYPES

NOTIFICATIONS_PER_PAGE = 30
DELIVERIES_PER_PAGE = 50


def unread_count(*, user: User) -> int:
    return notifications_shown(user=user).filter(read_at__isnull=True).count()


def notifications_page(*, user: User, page: str | int | None) -> Page:
    notifications = (
        notifications_shown(user=user)
        .select_related("actor", "post")
        .order_by("-updated_at", "-id")
    )
    return Paginator(notifications, NOTIFICATIONS_PER_PAGE).get_page(page)


def notifications_shown(*, user: User) -> QuerySet[Notification]:
    """The member's notifications, less those about hidden posts or comments: their text
    names the post, and a moderator hid it from members, its author included. The bell, the
    list and "mark all read" count these only."""
    notifications = Notification.objects.filter(recipient=user)
    if sees_hidden(user):
        return notifications
    return notifications.exclude(post__is_hidden=True).exclude(comment__is_hidden=True)


def email_preferences(*, user: User) -> dict[str, bool]:
    """Every optional type with whether the member wants it (wanted unless turned off)."""
    off = set(
        EmailPreference.objects.filter(user=user, enabled=False).values_list(
            "notification_type", flat=True
        )
    )
    return {t: t not in off for t in OPTIONAL_TYPES}


def email_recipient(*, user_id: int) -> User | None:
    """The member with `email_types_off`, the types they turned off, in one query: every
    email starts here (a statement prepared once per connection: config.prepared)."""
    sql, names = _recipient_query()
    row = prepared.fetchone(sql, [user_id])
    if row is None:
        return None
    user = User.from_db(connection.alias, names, row[:-1])
    user.email_types_off = row[-1]  # type: ignore[attr-defined]
    return user


@cache
def _recipient_query() -> tuple[str, list[str]]:
    """The user's columns named one by one (a prepared `u.*` would break on a new column)."""
    fields = User._meta.concrete_fields
    columns = ", ".join(f'u."{field.column}"' for field in fields)
    sql = f"""
        SELECT {columns},
               ARRAY(SELECT p.notification_type FROM notifications_emailpreference p
                     WHERE p.user_id = u.id AND NOT p.enabled)
        FROM forum_user u WHERE u.id = %s
    """
    return sql, [field.attname for field in fields]


def comment_for_email(*, comment_id: int | None, recipient_id: int) -> dict | None:
    """What a new_comment email shows and checks, in one prepared query (emails are the
    busiest jobs): the comment, its post, its author's name, whether either is hidden, and
    the recipient's notification of it (absent when it was pruned or never made)."""
    row = prepared.fetchone(
        """
            SELECT c.body, c.is_hidden OR p.is_hidden, p.id, p.title,
                   coalesce(nullif(a.display_name, ''), a.username), n.id, n.read_at IS NOT NULL
            FROM forum_comment c
            JOIN forum_post p ON p.id = c.post_id
            JOIN forum_user a ON a.id = c.author_id
            LEFT JOIN notifications_notification n ON n.comment_id = c.id
                AND n.recipient_id = %s AND n.notification_type = 'new_comment'
            WHERE c.id = %s
        """,
        [recipient_id, comment_id],
    )
    fields = ("body", "hidden", "post_id", "post_title", "author_name", "notification_id", "read")
    return dict(zip(fields, row, strict=True)) if row else None


def has_posted(*, user: User) -> bool:
    return Post.objects.filter(author=user).exists() or Comment.objects.filter(author=user).exists()


def unsubscribe_path(*, user_id: int, notification_type: str) -> str:
    token = make_unsubscribe_token(user_id=user_id, notification_type=notification_type)
    return reverse("notifications:unsubscribe", args=[token])


def deliveries_page(*, page: str | int | None, status: str = "") -> Page:
    deliveries: QuerySet[EmailDelivery] = EmailDelivery.objects.defer(
        "body_text", "body_html", "headers"
    ).order_by("-created_at", "-id")
    if status:
        deliveries = deliveries.filter(status=status)
    return Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(page)
