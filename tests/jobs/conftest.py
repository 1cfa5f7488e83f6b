import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from jobs.worker import workerdb


@pytest.fixture(autouse=True)
def _fresh_run_counters():
    """Sample jobs count their runs under test:* keys: every test starts from zero."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter("test:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _empty_cache():
    """The dashboard keeps sampled run-time percentiles in the cache for 30 s
    (jobs.ops.runs.SAMPLE_TTL): one test's estimate must not answer the next test."""
    cache.clear()


@pytest.fixture(autouse=True)
def _close_worker_connection():
    """Code under test may open jobs.worker.workerdb's own connection in this process: close it, or
    the test database cannot be dropped at the end of the run."""
    yield
    workerdb.close()
