"""Jobs for the job-layer tests; workers started by the tests import this module (--include).

Each records its runs in Redis (INCR), so a test in another process can count executions.
It also registers `test_nap`, a remote-control command that sleeps (only workers started by
the tests know it).
"""

import logging
import os
import signal
import time

import redis
from celery.worker.control import control_command
from django.db import connection

from config import redis_clients
from forum.models import User
from jobs.base import ApplicationJob, register
from jobs.ledger.concurrency import ConcurrencyLimit

logger = logging.getLogger(__name__)


@control_command()
def test_nap(state, seconds: float) -> dict:
    """Holds the worker's event loop (remote-control commands run on it), then replies."""
    logger.warning("test_nap sleeping %s s", seconds)
    time.sleep(seconds)
    return {"ok": f"slept {seconds}"}


def runs(key: str) -> int:
    return int(_redis().get(f"test:runs:{key}") or 0)


def allow(key: str) -> None:
    _redis().set(f"test:allow:{key}", 1)


def _redis() -> redis.Redis:
    return redis_clients.from_settings()  # REDIS_URL, directly or through its Sentinels


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


@register
class CutOffJob(ApplicationJob):
    """Its first run loses its database connection midway, as in a PostgreSQL restart."""

    retry_backoff = 0.2

    def run(self, key: str) -> int:
        if _redis().incr(f"test:runs:{key}") == 1:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return User.objects.filter(username=key).count()


@register
class NulErrorJob(ApplicationJob):
    """Fails with a NUL character in its message, as an error quoting user input can."""

    max_attempts = 1

    def run(self, key: str) -> None:
        raise ValueError(f"bad byte \x00 in {key}")


@register
class SlowJob(ApplicationJob):
    """Records its start, sleeps, records its finish: a run killed midway never finishes."""

    def run(self, key: str, seconds: float) -> str:
        _redis().incr(f"test:starts:{key}")
        time.sleep(seconds)
        return f"finished {_redis().incr(f'test:runs:{key}')}"


@register
class HeldJob(ApplicationJob):
    """Records its start, then runs until a test allows it (at most `seconds`): a test can look
    at it while it runs, with no race against a sleep."""

    def run(self, key: str, seconds: float = 60) -> str:
        _redis().incr(f"test:starts:{key}")
        deadline = time.monotonic() + seconds
        while not _redis().get(f"test:allow:{key}") and time.monotonic() < deadline:
            time.sleep(0.05)
        return f"released {_redis().incr(f'test:runs:{key}')}"


@register
class NapJob(ApplicationJob):
    """Sleeps and touches nothing else: it finishes whether or not Redis is there meanwhile."""

    def run(self, seconds: float) -> str:
        time.sleep(seconds)
        return f"slept {seconds}"


@register
class PoisonJob(ApplicationJob):
    """Kills the process that runs it, every time."""

    max_attempts = 3

    def run(self, key: str) -> None:
        _redis().incr(f"test:runs:{key}")
        os.kill(os.getpid(), signal.SIGKILL)


@register
class OrderJob(ApplicationJob):
    """Appends its label to a Redis list: the order in which jobs ran."""

    def run(self, label: str) -> None:
        _redis().rpush("test:order", label)


def order() -> list[str]:
    return [item.decode() for item in _redis().lrange("test:order", 0, -1)]


@register
class OneAtATimeJob(ApplicationJob):
    """At most one per user: records the most that ever ran at once for a user."""

    limits_concurrency = ConcurrencyLimit(key=lambda user_id, key, seconds=0.3: user_id, to=1)

    def run(self, user_id: int, key: str, seconds: float = 0.3) -> None:
        running = _redis().incr(f"test:running:{key}:{user_id}")
        _redis().eval(
            "if tonumber(redis.call('get', KEYS[2]) or 0) < tonumber(ARGV[1]) then "
            "redis.call('set', KEYS[2], ARGV[1]) end",
            2,
            f"test:running:{key}:{user_id}",
            f"test:max:{key}:{user_id}",
            running,
        )
        time.sleep(seconds)
        _redis().decr(f"test:running:{key}:{user_id}")
        _redis().incr(f"test:runs:{key}")


def most_at_once(key: str, user_id: int) -> int:
    return int(_redis().get(f"test:max:{key}:{user_id}") or 0)


def starts(key: str) -> int:
    return int(_redis().get(f"test:starts:{key}") or 0)
