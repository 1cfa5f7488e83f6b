import pytest
import redis
from django.conf import settings


@pytest.fixture(autouse=True)
def _fresh_run_counters():
    """Sample jobs count their runs under test:* keys: every test starts from zero."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter("test:*", count=1000))
    if keys:
        client.delete(*keys)
