"""Signed one-click unsubscribe tokens (django.core.signing): no table, no expiry, so an
old email's link keeps working; a forged or altered token fails the signature check."""

from __future__ import annotations

from django.core import signing

SALT = "notifications.unsubscribe"


def make_unsubscribe_token(*, user_id: int, notification_type: str) -> str:
    return signing.dumps([user_id, notification_type], salt=SALT, compress=True)


def read_unsubscribe_token(token: str) -> tuple[int, str]:
    """(user id, type); raises signing.BadSignature when the token is not ours."""
    user_id, notification_type = signing.loads(token, salt=SALT)
    return int(user_id), str(notification_type)
