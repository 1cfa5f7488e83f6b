from typing import Any

from django import forms

from notifications.types import OPTIONAL_TYPES, NotificationType


class EmailPreferencesForm(forms.Form):
    """One checkbox per type a member may turn off; security mail is not listed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for notification_type in OPTIONAL_TYPES:
            self.fields[notification_type] = forms.BooleanField(
                required=False, label=NotificationType(notification_type).label
            )
