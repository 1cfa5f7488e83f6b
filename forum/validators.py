"""Rules for what members type that the model's own validators do not hold (changing those
would need a migration)."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError

USERNAME_WITH_AT = (
    'A username cannot contain "@": at login it would be taken for an email address. '
    "Choose one made of letters, digits and . + - _ (for example ada_lagos)."
)


def validate_username(username: str) -> None:
    """No "@" in a username, however it is typed ("＠" and "﹫" become "@" once Django
    normalises the name): login reads a name with "@" as an email address (forum.auth), and
    a username equal to someone's address stood in the way of their login (issue 15)."""
    if "@" in unicodedata.normalize("NFKC", username):
        raise ValidationError(USERNAME_WITH_AT, code="username_with_at")
