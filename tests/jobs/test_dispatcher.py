"""The dispatcher: due jobs and lost publishes reach Redis exactly once."""

import logging
import os
import signal
import uuid

import pytest
from django.db import transaction
from django.utils import timezone

from jobs.models import Job, State
from tests.jobs.helpers import queued_messages, wait_for, wait_for_state
from tests.jobs.sample_jobs import RecordJob, runs

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_two_dispatchers_never_publish_a_job_twice(processes, private_redis):
    for i in range(300):
        RecordJob.apply_async([f"due-{i}"], countdown=3600)
    Job.objects.update(scheduled_at=timezone.now())
    processes.dispatcher(env=private_redis.env)
    processes.dispatcher(env=private_redis.env)
    wait_for(lambda: not Job.objects.scheduled().exists(), message="every job promoted")
    wait_for(lambda: queued_messages(url=private_redis.url) >= 300, message="300 messages")
    assert queued_messages(url=private_redis.url) == 300
    assert Job.objects.ready().filter(published_at__isnull=False).count() == 300


def test_job_whose_publish_failed_runs_once_redis_is_back(processes, private_redis):
    processes.worker(env=private_redis.env)
    processes.dispatcher(env=private_redis.env)
    key = uuid.uuid4().hex
    with transaction.atomic():
        result = RecordJob.delay(key)
        private_redis.stop()  # Redis dies before the commit publishes
    job = Job.objects.get(pk=result.id)
    assert (job.state, job.published_at) == (State.READY, None)  # kept, waiting
    private_redis.start()
    wait_for_state(result.id, State.FINISHED, timeout=60)
    assert runs(key) == 1


def test_a_hung_redis_costs_one_publish_then_jobs_go_to_the_dispatcher(
    processes, private_redis, caplog
):
    """A stopped (not dead) Redis accepts connections and never answers: the first publish
    waits for its socket timeout, the next ones back off at once; all run once it is back."""
    os.kill(private_redis.proc.pid, signal.SIGSTOP)
    try:
        with caplog.at_level(logging.WARNING, logger="jobs"):
            keys = [uuid.uuid4().hex for _ in range(5)]
            results = [RecordJob.delay(key) for key in keys]
        failures = [r.getMessage() for r in caplog.records if "publish_failed" in r.msg]
        assert len(failures) == 5
        assert "backing off" not in failures[0]
        assert all("backing off" in message for message in failures[1:])
        assert Job.objects.filter(pk__in=[r.id for r in results], published_at=None).count() == 5
    finally:
        os.kill(private_redis.proc.pid, signal.SIGCONT)
    processes.worker(env=private_redis.env)
    processes.dispatcher(env=private_redis.env)
    for result in results:
        wait_for_state(result.id, State.FINISHED, timeout=60)
    assert [runs(key) for key in keys] == [1] * 5


def test_dispatcher_heartbeat_file_shows_its_loop_is_alive(processes, tmp_path):
    alive = tmp_path / "dispatcher.alive"
    processes.start(["manage.py", "jobs", "dispatcher", "--heartbeat-file", str(alive)])
    wait_for(alive.exists, message="the heartbeat file")
    first = alive.stat().st_mtime
    wait_for(lambda: alive.stat().st_mtime > first, message="a fresh heartbeat")


def test_after_losing_postgresql_the_dispatcher_gives_every_process_the_threshold_first(
    settings,
):
    """A PostgreSQL failover: heartbeats of live processes could not land while there was no
    primary, and the promoted server has been up for long, so its start time tells nothing.
    The dispatcher counts from its own last database error (or its start) instead."""
    import time
    from datetime import timedelta

    from jobs.dispatcher import Dispatcher
    from jobs.models import Process
    from tests.jobs.helpers import claim

    settings.JOBS_PROCESS_ALIVE_THRESHOLD = 30
    silent = Process.objects.create(
        kind=Process.Kind.FORK,
        name="silent during the failover",
        hostname="elsewhere",
        pid=4343,
        last_heartbeat_at=timezone.now() - timedelta(seconds=120),
    )
    job_id = RecordJob.delay("failover-orphan").id
    claim(job_id)
    Job.objects.filter(pk=job_id).update(process_id=silent.pk)

    dispatcher = Dispatcher()  # started just now: it waits too
    dispatcher.recover()
    assert Job.objects.get(pk=job_id).state == State.CLAIMED

    dispatcher.database_lost_at = time.monotonic() - 10  # PostgreSQL back 10 s ago
    dispatcher.recover()
    assert Job.objects.get(pk=job_id).state == State.CLAIMED
    assert Process.objects.filter(pk=silent.pk).exists()

    dispatcher.database_lost_at = time.monotonic() - 31  # reached for longer: silence counts
    dispatcher.recover()
    assert Job.objects.get(pk=job_id).state == State.READY
    assert not Process.objects.filter(pk=silent.pk).exists()


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        ("psycopg", True),  # the server went away (restart, failover)
        ("django", True),  # the same, as Django's cursor raises it
        ("kombu", False),  # Redis away: PostgreSQL's heartbeats were landing all along
        ("syntax", False),  # not an outage
    ],
)
def test_which_errors_count_as_losing_postgresql(error, outage):
    import kombu.exceptions
    import psycopg
    from django.db import OperationalError, connection

    from jobs.worker.execution import database_outage

    if error == "psycopg":
        exc: Exception = psycopg.OperationalError("server closed the connection unexpectedly")
    elif error == "django":
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        except OperationalError as raised:
            exc = raised
        connection.close()
    elif error == "kombu":
        exc = kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:6379")
    else:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELEC 1")
        except Exception as raised:
            exc = raised
    assert database_outage(exc) is outage
