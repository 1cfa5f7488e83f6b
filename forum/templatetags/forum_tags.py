from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def when(value: datetime | None) -> str:
    """A post or comment time in the site's zone, e.g. "28 Nov 2026, 21:05".

    strftime rather than the `date` filter, whose localised formatting is the dearer of the
    two on a page that shows dozens of times (docs/PERFORMANCE.md, web pages)."""
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%-d %b %Y, %H:%M")
