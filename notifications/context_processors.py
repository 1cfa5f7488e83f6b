from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from notifications import selectors


def notifications(request: HttpRequest) -> dict:
    """The bell's unread count, counted only when a template shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "unread_notification_count": SimpleLazyObject(lambda: selectors.unread_count(user=user))
    }
