"""Jobs for the job-layer tests; workers started by the tests import this module (--include).

Each records its runs in Redis (INCR), so a test in another process can count executions.
"""

import redis
from django.conf import settings

from forum.models import User
from jobs.base import ApplicationJob, register


def runs(key: str) -> int:
    return int(_redis().get(f"test:runs:{key}") or 0)


def allow(key: str) -> None:
    _redis().set(f"test:allow:{key}", 1)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@register
class RecordJob(ApplicationJob):
    def run(self, key: str, payload: dict | None = None) -> dict:
        count = _redis().incr(f"test:runs:{key}")
        return {"key": key, "run": count, "payload": payload}


@register
class FlakyJob(ApplicationJob):
    """Fails with ConnectionError until its `fail_times` runs are used up."""

    retry_on = (ConnectionError,)
    max_attempts = 4
    retry_backoff = 0.2

    def run(self, key: str, fail_times: int) -> str:
        count = _redis().incr(f"test:runs:{key}")
        if count <= fail_times:
            raise ConnectionError(f"SMTP server unreachable (run {count})")
        return "delivered"


@register
class UserNameJob(ApplicationJob):
    """Loads a user: discarded (ObjectDoesNotExist) when the user is gone."""

    def run(self, user_id: int) -> str:
        return User.objects.get(pk=user_id).username


@register
class GatedJob(ApplicationJob):
    """Fails (ValueError, not retried) until a test allows it."""

    max_attempts = 1

    def run(self, key: str, size: int) -> int:
        _redis().incr(f"test:runs:{key}")
        if not _redis().get(f"test:allow:{key}"):
            raise ValueError(f"report {key} of size {size} is not allowed yet")
        return size
