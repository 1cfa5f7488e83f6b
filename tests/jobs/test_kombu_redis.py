"""A worker and its Redis connection, against the real Redis: jobs.worker.kombu_redis (the
transport `redis://` URLs get) and jobs.worker.consumer (how a worker reconnects)."""

import re
import uuid

import pytest
import redis
from django.conf import settings
from kombu import Connection

from config.celery import app
from jobs.models import Job, State
from tests.jobs.helpers import wait_for, wait_for_state
from tests.jobs.sample_jobs import NapJob, RecordJob, runs


def test_a_channel_detached_from_its_connection_raises_a_connection_error():
    conn = Connection(settings.REDIS_URL)
    channel = conn.default_channel
    channel._disconnect_pools()
    channel.connection.client = None  # as kombu leaves it after a failed close
    with pytest.raises(redis.ConnectionError, match="detached"), channel.conn_or_acquire():
        pass


def test_a_channel_builds_its_pipelines_on_its_pool_until_the_pool_is_rebuilt():
    with Connection(settings.REDIS_URL) as conn:
        channel = conn.default_channel
        with channel.qos.pipe_or_acquire() as pipe:
            assert pipe.connection_pool is channel.pool
            assert pipe.ping().execute() == [True]
        first = channel.pipeline()
        assert channel.pipeline(transaction=False).response_callbacks is first.response_callbacks
        channel._disconnect_pools()  # what a lost connection does
        rebuilt = channel.pipeline()
        assert rebuilt.connection_pool is channel.pool is not first.connection_pool
        assert rebuilt.ping().execute() == [True]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_reconnects_every_second_while_redis_is_down(processes, private_redis):
    """Celery's own back-off (2, 4, 6 … 30 s) would leave a worker idle for up to 30 s after
    Redis returned; jobs.worker.consumer retries every JOBS_BROKER_RETRY_INTERVAL, without limit."""
    worker = processes.worker(env=private_redis.env)
    private_redis.stop()
    wait_for(
        lambda: processes.log(worker).count("Cannot connect") >= 4,
        timeout=30,
        message="four reconnect attempts",
    )
    retries = re.findall(r"Trying again (in [\d.]+ seconds?)", processes.log(worker))
    assert set(retries) == {"in 1.00 second"}, retries
    private_redis.start()
    key = uuid.uuid4().hex
    result = RecordJob.delay(key)
    wait_for_state(result.id, State.FINISHED, timeout=30)
    assert runs(key) == 1
    assert worker.poll() is None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_that_lost_redis_while_it_ran_a_remote_control_command_reconnects(
    processes, private_redis
):
    """kombu retried the command's reply until Redis returned, on the worker's event loop: the
    worker never noticed the lost connection (jobs.worker.control.Mailbox bounds the retries).
    The heartbeat's own `inspect active_queues` hit the same window now and then."""
    worker = processes.worker(env=private_redis.env)
    app.control.broadcast(
        "test_nap", arguments={"seconds": 2}, destination=[worker.hostname], reply=True, timeout=0
    )
    wait_for(lambda: "test_nap sleeping" in processes.log(worker), message="the command to run")
    private_redis.stop()  # before the command replies
    wait_for(
        lambda: "Cannot connect" in processes.log(worker), timeout=15, message="the lost connection"
    )
    private_redis.start()
    key = uuid.uuid4().hex
    result = RecordJob.delay(key)
    wait_for_state(result.id, State.FINISHED, timeout=30)
    assert runs(key) == 1
    assert worker.poll() is None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_waiting_for_messages_survives_losing_redis(processes, private_redis):
    """kombu 5.7.0 stopped the worker here (AttributeError 'hostname' in restore_unacked)
    when Redis died while it waited for messages with some prefetched (jobs.worker.kombu_redis)."""
    worker = processes.worker(concurrency=2, env=private_redis.env)
    processes.dispatcher(env=private_redis.env)  # republishes the prefetched one Redis lost
    naps = [NapJob.delay(3) for _ in range(3)]  # they finish even if Redis is still away
    wait_for(lambda: Job.objects.filter(state=State.CLAIMED).count() == 2, message="2 running")
    private_redis.proc.kill()  # a crash: no goodbye to the clients
    private_redis.proc.wait()
    wait_for(lambda: "Cannot connect" in processes.log(worker), message="the lost connection")
    private_redis.start()  # empty
    key = uuid.uuid4().hex
    after = RecordJob.delay(key)
    wait_for_state(after.id, State.FINISHED, timeout=30)
    for job in naps:
        wait_for_state(job.id, State.FINISHED, timeout=60)
    assert worker.poll() is None, processes.log(worker)
    assert "Unrecoverable error" not in processes.log(worker)
