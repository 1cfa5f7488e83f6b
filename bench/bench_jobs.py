"""The same no-op job as bench/bare_celery.py, through our job layer."""

import time

import redis
from django.conf import settings

from jobs.base import ApplicationJob, register

_redis = redis.Redis.from_url(settings.REDIS_URL)


@register
class NoopJob(ApplicationJob):
    def run(self, key: str) -> None:
        _redis.hset("bench:start", key, time.time())


@register
class ChaosJob(ApplicationJob):
    """bench/chaos.py: counts every completed run, and applies its side effect (a counter)
    only if its idempotency key (the job id) was not used yet, as a real job should."""

    def run(self, key: str, seconds: float = 0.01) -> None:
        time.sleep(seconds)  # a window for the kills to land mid-job
        _redis.hincrby("chaos:completed", key, 1)
        if _redis.set(f"chaos:key:{key}", 1, nx=True):
            _redis.hincrby("chaos:effects", key, 1)
