"""Recurring jobs as django-celery-beat rows, for the data migrations that install them.

Called with the migration's historical `apps`, so a migration keeps working when the
models change later."""

from __future__ import annotations

import json
from typing import Any

from django.apps.registry import Apps


def add_daily_entry(
    apps: Apps,
    *,
    name: str,
    task: str,
    hour: int,
    minute: int,
    kwargs: dict[str, Any],
    description: str,
) -> None:
    """A PeriodicTask running `task` daily at hour:minute, Lagos time, editable in admin."""
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=str(minute),
        hour=str(hour),
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="Africa/Lagos",
    )
    PeriodicTask.objects.get_or_create(
        name=name,
        defaults={
            "task": task,
            "crontab": schedule,
            "kwargs": json.dumps(kwargs),
            "description": description,
        },
    )


def remove_entry(apps: Apps, *, name: str) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()
