"""The same no-op job as bench/bare_celery.py, through our job layer."""

import time

import redis
from django.conf import settings

from jobs.base import ApplicationJob, register

_redis = redis.Redis.from_url(settings.REDIS_URL)

# Takes the idempotency key and applies the effect in one step: a worker killed between two
# separate commands would leave the key taken and the effect never applied, and every retry
# would then skip it (bench/chaos.py counts such jobs: jobs_finished_without_effect).
_apply_once = _redis.register_script(
    """
    if redis.call('SET', KEYS[1], 1, 'NX') then
        redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
        return 1
    end
    return 0
    """
)


@register
class NoopJob(ApplicationJob):
    def run(self, key: str) -> None:
        _redis.hset("bench:start", key, time.time())


@register
class ChaosJob(ApplicationJob):
    """bench/chaos.py: counts every completed run, and applies its side effect (a counter)
    only if its idempotency key was not used yet, as a real job should: key and effect
    together, atomically (a Lua script)."""

    def run(self, key: str, seconds: float = 0.01) -> None:
        time.sleep(seconds)  # a window for the kills to land mid-job
        _redis.hincrby("chaos:completed", key, 1)
        _apply_once(keys=[f"chaos:key:{key}", "chaos:effects"], args=[key])
