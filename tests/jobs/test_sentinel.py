"""Redis behind Sentinel (issue 22): a primary, its replica and three real Sentinels
(devtools.sentinel); the primary is SIGKILLed as a lost host, the Sentinels promote the
replica, and every Redis client of the forum follows it: the Celery broker (publish, workers,
the dispatcher), the rate limiter and /readyz. The old primary comes back as a replica."""

import asyncio
import concurrent.futures
import time

import pytest
import redis
from django.db import transaction
from flower.utils.broker import Broker

from config import redis_clients
from config.celery import app
from forum import ratelimit
from jobs import base
from jobs.models import Job, State
from jobs.ops import views
from tests.jobs.helpers import queued_messages, wait_for
from tests.jobs.sample_jobs import RecordJob

pytestmark = pytest.mark.django_db(transaction=True)


def _direct_url(cluster, name: str) -> str:
    return f"redis://127.0.0.1:{cluster.ports[name]}/{cluster.db}"


def _published(job_id: str) -> bool:
    return Job.objects.filter(id=job_id, published_at__isnull=False).exists()


def _enqueue(key: str) -> str:
    with transaction.atomic():
        job_id = RecordJob.delay(key).id
    assert job_id is not None
    return job_id


def _until_it_works(action, *, timeout: float = 15):
    """A client's first use after a failover may meet a connection to the dead primary; it
    must work again within seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_every_redis_client_follows_the_primary_through_a_failover(sentinel_redis, settings):
    cluster = sentinel_redis
    settings.RATE_LIMITS = {"comment": (1000, 60)}
    first = cluster.primary

    # Before: everything reaches the primary through the Sentinels.
    job_id = _enqueue("before-failover")
    assert _published(job_id)
    assert queued_messages(url=_direct_url(cluster, first)) == 1
    assert views._redis() == "answers"
    assert ratelimit.member_exceeded("comment", member_id=1) is False
    assert any(cluster.client(first).scan_iter("ratelimit:comment:member:1:*"))

    cluster.stop_primary()
    took = cluster.wait_for_failover()
    second = cluster.primary
    assert second != first and took < 15

    # /readyz asks the Sentinels afresh: the new primary answers.
    assert views._redis() == "answers"
    # The rate limiter's client (kept between requests) moves to the new primary.
    _until_it_works(lambda: ratelimit._redis().ping())
    assert ratelimit.member_exceeded("comment", member_id=2) is False
    assert any(cluster.client(second).scan_iter("ratelimit:comment:member:2:*"))
    # The broker: a job enqueued now is published to the new primary (the replica had the
    # one published before).
    base._publish_backoff["until"] = 0.0  # a publish that met the dead primary backs off
    _until_it_works(lambda: app.connection_for_write().ensure_connection(max_retries=0))
    job_id = _until_it_works(lambda: _check_published(_enqueue("after-failover")))
    assert _published(job_id)
    assert queued_messages(url=_direct_url(cluster, second)) >= 2
    # Flower's broker page (a new client per request, through the Sentinels) counts them there.
    assert _flower_queue_length("default") == queued_messages(url=_direct_url(cluster, second))

    # The old primary comes back and follows the new one: it gets what was written since.
    cluster.restart_old_primary()
    cluster.wait_until_replica(first)
    assert cluster.role(first) == "slave"
    wait_for(
        lambda: (
            queued_messages(url=_direct_url(cluster, first))
            == queued_messages(url=_direct_url(cluster, second))
        ),
        timeout=10,
        message="the rejoined replica to hold the new primary's queue",
    )
    # A client through the Sentinels still writes to the new primary, never the old one.
    client = redis_clients.from_settings(socket_timeout=1)
    client.set("test:written-after-rejoin", 1)
    assert cluster.client(second).get("test:written-after-rejoin") == b"1"


def _flower_queue_length(queue: str) -> int:
    """What Flower's broker page shows for a queue, built as its views build it."""
    with app.connection() as conn:
        uri = conn.as_uri(include_password=True)
    broker = Broker(
        uri,
        http_api=None,
        broker_options=app.conf.broker_transport_options,
        broker_use_ssl=None,
    )
    # In a thread of its own: an earlier test (Playwright's sync API) may leave an event
    # loop running in this one, where asyncio.run refuses to start.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        [info] = pool.submit(asyncio.run, broker.queues([queue])).result()
    return int(info["messages"])


def _check_published(job_id: str) -> str:
    if not _published(job_id):
        base._publish_backoff["until"] = 0.0
        raise AssertionError(f"job {job_id} was not published")
    return job_id


def test_jobs_flow_through_a_failover_and_none_is_lost(sentinel_redis, processes):
    cluster = sentinel_redis
    processes.worker(concurrency=2, env=cluster.env)
    processes.dispatcher(env=cluster.env)

    ids = []
    for index in range(120):
        if index == 40:
            cluster.stop_primary()  # jobs published in its last moments may not have reached
            # the replica: the dispatcher republishes them from the ledger
        if index == 80:
            cluster.wait_for_failover()
            base._publish_backoff["until"] = 0.0
        ids.append(_enqueue(f"failover-{index}"))
        time.sleep(0.03)
    cluster.restart_old_primary()

    def all_finished() -> bool:
        return Job.objects.filter(id__in=ids, state=State.FINISHED).count() == len(ids)

    wait_for(all_finished, timeout=120, message="every job to finish after the failover")
    assert Job.objects.filter(id__in=ids).exclude(state=State.FINISHED).count() == 0
    cluster.wait_until_replica(cluster.old_primary)
    # The worker and the dispatcher are alive, on the new primary.
    assert all(proc.poll() is None for proc in processes.running)
    assert app.control.ping(timeout=2)


class _SilentSentinel:
    """A Sentinel whose host is away: it takes connections and never answers. Counts them."""

    def __init__(self) -> None:
        import socket
        import threading

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)  # held open, never answered

    def close(self) -> None:
        self.listener.close()
        for conn in self.accepted:
            conn.close()


def test_a_sentinel_that_does_not_answer_is_asked_once_then_the_next_one(sentinel_redis):
    """redis-py retries a Sentinel that does not answer 10 times with backoff (about 30 s on
    a host that is cut off) before asking the next: the rate limiter, /readyz and the broker
    ask it once."""
    from kombu import Connection

    cluster = sentinel_redis
    silent = _SilentSentinel()
    try:
        url = f"sentinel://127.0.0.1:{silent.port};{cluster.url}"
        client = redis_clients.client(
            url, cluster.master, socket_timeout=0.3, socket_connect_timeout=0.3
        )
        assert client.ping()
        assert len(silent.accepted) == 1

        before = len(silent.accepted)
        broker = Connection(
            url,
            transport_options={
                **app.conf.broker_transport_options,
                "master_name": cluster.master,
                "sentinel_kwargs": {"socket_timeout": 0.3, "socket_connect_timeout": 0.3},
            },
        )
        with broker:
            broker.ensure_connection(max_retries=0)
            assert broker.default_channel.client.ping()
        assert len(silent.accepted) - before == 1
    finally:
        silent.close()


def test_an_idle_connection_to_an_old_primary_is_not_used_once_the_sentinels_name_another(
    sentinel_redis,
):
    """The primary stops answering (SIGSTOP: its host cut off), the Sentinels promote the
    replica, then it answers again still believing it leads, until they turn it into a
    replica. A write through a connection that sat idle meanwhile must go to the new
    primary, not to the old one (which would drop it at its resync): docs/RELIABILITY.md
    finding 19. For the rate limiter's client and for the broker's channel."""
    import os
    import signal

    from kombu import Connection

    cluster = sentinel_redis
    client = redis_clients.client(
        cluster.url, cluster.master, socket_timeout=0.5, socket_connect_timeout=0.5
    )
    broker = Connection(cluster.url, transport_options=app.conf.broker_transport_options)
    with broker:
        channel = broker.default_channel
        assert client.set("warm", 1) and channel.client.set("warm", 1)  # idle connections
        old = cluster.procs[cluster.primary]
        os.kill(old.pid, signal.SIGSTOP)
        try:
            cluster.wait_for_failover()
        finally:
            os.kill(old.pid, signal.SIGCONT)
        time.sleep(1.0)  # PrimaryCheckingPool.CHECK_EVERY: the pools ask the Sentinels again
        client.set("after-failover", "limiter")
        channel.client.set("after-failover-broker", "broker")
        new = cluster.client(cluster.primary)
        assert new.get("after-failover") == b"limiter"
        assert new.get("after-failover-broker") == b"broker"


def _fail_over_keeping_the_old_primary_a_primary(cluster) -> str:
    """The Sentinels promote the replica while the old primary stays a primary (it refuses
    REPLICAOF, so they cannot turn it into a replica): the moment after a cut primary's link
    comes back, held open. Returns the old primary's name."""
    old = cluster.primary
    cluster.client(old).execute_command("ACL", "SETUSER", "default", "-replicaof", "-slaveof")
    sentinel = redis.Redis(port=cluster.sentinel_ports[0], socket_timeout=2)
    sentinel.execute_command("SENTINEL", "FAILOVER", cluster.master)
    cluster.wait_for_failover()
    assert cluster.role(old) == "master"
    return old


def _answers_ping() -> None:
    if not app.control.ping(timeout=1):
        raise AssertionError("no worker answered a ping")


def test_a_worker_waiting_on_an_old_primary_moves_to_the_one_the_sentinels_name(
    sentinel_redis, processes
):
    """A worker's BRPOP and LISTEN connections are held for good, so no pool check sees
    them: after a failover they stayed on the old primary until the Sentinels turned it into
    a replica (up to 10 s; never, here), while jobs and control messages went to the new one
    (docs/RELIABILITY.md, finding 19)."""
    cluster = sentinel_redis
    processes.worker(concurrency=2, env=cluster.env)
    first = _enqueue("before-failover")
    wait_for(lambda: Job.objects.filter(id=first, state=State.FINISHED).exists(), timeout=30)

    old = _fail_over_keeping_the_old_primary_a_primary(cluster)
    # This process's publisher asks the Sentinels again (PrimaryCheckingPool), so the job
    # goes to the new primary; the worker can only take it there.
    time.sleep(redis_clients.PrimaryCheckingPool.CHECK_EVERY)
    job_id = _enqueue("after-failover")
    assert queued_messages(url=_direct_url(cluster, old)) == 0
    wait_for(
        lambda: Job.objects.filter(id=job_id, state=State.FINISHED).exists(),
        timeout=10,
        message="the worker to take the job from the new primary",
    )
    # Its control connection (LISTEN) moved too: a broadcast sent through the new primary
    # reaches it (one sent while it resubscribes is lost, as in any reconnect: ask again).
    _until_it_works(_answers_ping, timeout=5)
    assert cluster.role(old) == "master"  # nobody turned it into a replica meanwhile


def test_a_sentinel_that_names_another_primary_is_outvoted(sentinel_redis, tmp_path):
    """redis-py takes the first Sentinel's answer; a Sentinel just back from a cut names the
    old primary for a moment. The primary is the one most Sentinels name — for the forum's
    clients and for the broker."""
    from kombu import Connection

    from devtools.sentinel import SentinelCluster

    cluster = sentinel_redis
    with SentinelCluster(tmp_path / "other") as other:
        # First in the URL: a Sentinel naming a primary of the same name elsewhere.
        stray = f"sentinel://127.0.0.1:{other.sentinel_ports[0]}"
        url = f"{stray};{cluster.url}"
        client = redis_clients.client(url, cluster.master, socket_timeout=1)
        client.set("outvoted", "limiter")
        broker = Connection(url, transport_options=app.conf.broker_transport_options)
        with broker:
            broker.default_channel.client.set("outvoted-broker", "broker")
        primary = cluster.client(cluster.primary)
        assert primary.get("outvoted") == b"limiter"
        assert primary.get("outvoted-broker") == b"broker"
        assert other.client(other.primary).get("outvoted") is None
