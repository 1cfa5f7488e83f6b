"""jobs.worker.kombu_redis, the Redis transport `redis://` URLs get, against the real Redis."""

import pytest
import redis
from django.conf import settings
from kombu import Connection


def test_a_channel_detached_from_its_connection_raises_a_connection_error():
    conn = Connection(settings.REDIS_URL)
    channel = conn.default_channel
    channel._disconnect_pools()
    channel.connection.client = None  # as kombu leaves it after a failed close
    with pytest.raises(redis.ConnectionError, match="detached"), channel.conn_or_acquire():
        pass
