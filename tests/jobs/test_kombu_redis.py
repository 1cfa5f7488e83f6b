"""jobs.kombu_redis, the Redis transport every `redis://` URL gets, against the real Redis."""

import pytest
import redis
from django.conf import settings
from kombu import Connection


def test_a_channel_runs_its_pipelines_on_one_client_until_its_pool_is_rebuilt():
    with Connection(settings.REDIS_URL) as conn:
        channel = conn.default_channel
        assert type(channel).__module__ == "jobs.kombu_redis"
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.ping()
        with channel.QoS(channel).pipe_or_acquire() as pipe:
            assert pipe.ping().execute() == [True]
        channel._disconnect_pools()  # what a lost connection does
        with channel.conn_or_acquire() as rebuilt:
            assert rebuilt is not first
            assert rebuilt.ping()
        with channel.conn_or_acquire(first) as given:
            assert given is first  # a client passed in is used as it is


def test_a_channel_detached_from_its_connection_raises_a_connection_error():
    conn = Connection(settings.REDIS_URL)
    channel = conn.default_channel
    channel._disconnect_pools()
    channel.connection.client = None  # as kombu leaves it after a failed close
    with pytest.raises(redis.ConnectionError, match="detached"), channel.conn_or_acquire():
        pass
