"""Every read the notification pages and emails make."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.urls import reverse

from forum.models import Comment, Post, User
from notifications.models import EmailDelivery, EmailPreference, Notification
from notifications.tokens import make_unsubscribe_token
from notifications.types import OPTIONAL_TYPES

NOTIFICATIONS_PER_PAGE = 30
DELIVERIES_PER_PAGE = 50


def unread_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def notifications_page(*, user: User, page: str | int | None) -> Page:
    notifications = (
        Notification.objects.filter(recipient=user)
        .select_related("actor", "post")
        .order_by("-updated_at", "-id")
    )
    return Paginator(notifications, NOTIFICATIONS_PER_PAGE).get_page(page)


def email_preferences(*, user: User) -> dict[str, bool]:
    """Every optional type with whether the member wants it (wanted unless turned off)."""
    off = set(
        EmailPreference.objects.filter(user=user, enabled=False).values_list(
            "notification_type", flat=True
        )
    )
    return {t: t not in off for t in OPTIONAL_TYPES}


def email_wanted(*, user: User, notification_type: str) -> bool:
    return not EmailPreference.objects.filter(
        user=user, notification_type=notification_type, enabled=False
    ).exists()


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
