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
