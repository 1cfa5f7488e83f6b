"""Celery's revoke and purge end ledger jobs for good: `discarded`, never run, never published
again (jobs.revokes, jobs.worker.execution.record_revoked, jobs.worker.kombu_redis, the
dispatcher), driven through the real `celery` CLI against a real worker and dispatcher."""

import json
import os
import subprocess
import sys
from io import StringIO

import pytest
import redis
from django.conf import settings
from django.core.management import CommandError, call_command

from config.celery import app
from jobs.models import Job, Process, State
from tests.conftest import ROOT, test_database_url
from tests.jobs.helpers import PRIORITY_SEP, queued_messages, wait_for, wait_for_state
from tests.jobs.sample_jobs import RecordJob, SlowJob, runs, starts

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def jobs(*args: str) -> str:
    out = StringIO()
    call_command("jobs", *args, stdout=out)
    return out.getvalue()


def celery(*args: str, redis_url: str = "") -> subprocess.CompletedProcess:
    """The `celery` CLI, as an operator runs it, against the test database and Redis."""
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "REDIS_URL": redis_url or settings.REDIS_URL,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def listening_dispatcher(processes, env: dict | None = None):
    """A dispatcher, returned once it hears revoke broadcasts."""
    dispatcher = processes.dispatcher(env=env)
    wait_for(lambda: listens(dispatcher) == 1, message="the dispatcher to listen for revokes")
    return dispatcher


def listens(dispatcher) -> int:
    """How many times the dispatcher has started listening for revokes."""
    return dispatcher.log_path.read_text().count("revokes.listening")


def paused_worker(processes, queue: str):
    """A worker started while the queue is paused, returned once it no longer consumes it
    (until then it could take a message of the queue and hand it back)."""
    jobs("pause", queue)
    worker = processes.worker()

    def not_consumed() -> bool:
        replies = app.control.inspect(destination=[worker.hostname], timeout=1).active_queues()
        return bool(replies) and queue not in {q["name"] for q in replies[worker.hostname]}

    wait_for(not_consumed, message=f"the worker to stop consuming {queue}")
    return worker


def revoked(job_id) -> Job:
    job = wait_for_state(job_id, State.DISCARDED)
    assert job.error_message == "revoked"
    return job


def drained(queue: str) -> None:
    """Wait until a worker has taken every message now in the queue: a job enqueued after
    them has finished."""
    wait_for_state(RecordJob.apply_async(["sentinel"], queue=queue).id, State.FINISHED)


def lose_message(job_id, queue: str) -> None:
    """Delete a job's message from Redis, as a worker dying before its claim would.

    The message can be out of the queue for a moment: a worker that has just cancelled its
    consumer of a paused queue still has a BRPOP outstanding on it (up to kombu's 1 s
    timeout), and hands what that BRPOP pops straight back ("Requeuing undeliverable
    message ... No consumers"). So look until it is back."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [queue] + [f"{queue}{PRIORITY_SEP}{step}" for step in range(1, 10)]

    def removed() -> bool:
        for key in keys:
            for raw in client.lrange(key, 0, -1):
                if json.loads(raw)["headers"]["id"] == str(job_id):
                    return client.lrem(key, 1, raw) == 1
        return False

    wait_for(removed, timeout=10, message=f"the message of job {job_id} in {queue}")


def lost_message(queue: str) -> str:
    """A ready job of a paused queue whose message is gone, as when a worker died before its
    claim. Once the queue is resumed, the dispatcher publishes it again when it looks for lost
    messages, and with it every other ready job of the queue published as long ago: when it
    has run, that pass has happened."""
    job_id = RecordJob.apply_async(["lost"], queue=queue).id
    lose_message(job_id, queue)
    return job_id


def test_a_job_revoked_while_its_queue_is_paused_is_discarded_and_never_runs(processes):
    worker = paused_worker(processes, "search")
    listening_dispatcher(processes)
    job_id = RecordJob.apply_async(["revoked"], queue="search").id

    result = celery("control", "revoke", job_id)
    assert result.returncode == 0, result.stderr
    assert f"discarded in the ledger: {job_id}" in result.stdout  # the dispatcher's answer
    assert "flagged as revoked" in result.stdout  # the worker's
    revoked(job_id)

    jobs("resume", "search")
    drained("search")
    assert f"Discarding revoked task: RecordJob[{job_id}]" in processes.log(worker)
    assert runs("revoked") == 0
    assert Job.objects.get(pk=job_id).state == State.DISCARDED


def test_a_job_revoked_while_waiting_behind_a_busy_worker_is_discarded_and_never_runs(processes):
    processes.worker(concurrency=1)
    listening_dispatcher(processes)
    busy = SlowJob.delay("busy", 8).id
    wait_for_state(busy, State.CLAIMED)
    job_id = RecordJob.delay("revoked").id

    result = celery("control", "revoke", job_id)
    assert f"discarded in the ledger: {job_id}" in result.stdout, result.stderr
    revoked(job_id)

    wait_for_state(busy, State.FINISHED)
    drained("default")
    assert runs("revoked") == 0
    assert Job.objects.get(pk=job_id).state == State.DISCARDED


def test_revoking_scheduled_jobs_by_a_list_of_ids_discards_them_and_leaves_a_finished_one(
    processes,
):
    processes.worker()
    listening_dispatcher(processes)
    later = [RecordJob.apply_async([f"later-{n}"], countdown=3600).id for n in range(2)]
    done = RecordJob.delay("done").id
    wait_for_state(done, State.FINISHED)

    result = celery("control", "revoke", *later, done)
    assert result.returncode == 0, result.stderr
    assert all(job_id in result.stdout for job_id in later)
    for job_id in later:
        assert revoked(job_id).published_at is None  # never sent to Redis
    assert Job.objects.get(pk=done).state == State.FINISHED
    assert runs("done") == 1


def test_terminating_a_running_job_discards_it_and_it_is_not_run_again(processes):
    paused_worker(processes, "search")  # for lost_message
    listening_dispatcher(processes)
    job_id = SlowJob.delay("long", 60).id
    running = wait_for_state(job_id, State.CLAIMED)
    wait_for(lambda: starts("long") == 1, message="the job to start")

    result = celery("control", "terminate", "TERM", job_id)
    assert result.returncode == 0, result.stderr
    assert f"terminate: {job_id}" in result.stdout  # the worker killed its run
    revoked(job_id)

    # The worker replaces the killed pool process and drops its row; a job that process
    # claimed would now be recovered and run again. This one stays discarded.
    wait_for(lambda: not Process.objects.filter(pk=running.process_id).exists())
    lost = lost_message("search")
    jobs("resume", "search")
    wait_for_state(lost, State.FINISHED)  # recovery passes ran after the row went
    assert Job.objects.get(pk=job_id).state == State.DISCARDED
    assert starts("long") == 1
    assert runs("long") == 0  # killed before its end


def test_a_job_revoked_while_no_worker_runs_never_runs_once_a_worker_starts(processes):
    listening_dispatcher(processes)
    job_id = RecordJob.delay("unattended").id

    result = celery("control", "revoke", job_id)
    assert result.returncode == 0, result.stderr + result.stdout
    assert f"discarded in the ledger: {job_id}" in result.stdout
    revoked(job_id)
    # Only workers answer the other broadcasts: no node is up for `celery status`.
    assert "No nodes replied" in celery("status").stderr

    processes.worker()
    drained("default")
    assert runs("unattended") == 0
    assert Job.objects.get(pk=job_id).state == State.DISCARDED


def test_the_dispatcher_hears_revokes_again_once_redis_is_back(processes, private_redis):
    dispatcher = listening_dispatcher(processes, env=private_redis.env)
    private_redis.stop()
    wait_for(lambda: "revokes.disconnected" in dispatcher.log_path.read_text())
    private_redis.start()
    wait_for(lambda: listens(dispatcher) == 2, message="the dispatcher to listen again")

    job_id = RecordJob.apply_async(["later"], countdown=3600).id
    result = celery("control", "revoke", job_id, redis_url=private_redis.url)
    assert f"discarded in the ledger: {job_id}" in result.stdout, result.stderr
    revoked(job_id)


def test_a_revoked_job_stays_discarded_across_a_worker_restart_and_is_not_republished(
    processes,
):
    first = paused_worker(processes, "search")
    listening_dispatcher(processes)
    job_id = RecordJob.apply_async(["restart"], queue="search").id
    published_at = Job.objects.get(pk=job_id).published_at
    assert celery("control", "revoke", job_id).returncode == 0
    revoked(job_id)

    first.terminate()
    first.wait(timeout=30)
    second = paused_worker(processes, "search")  # it never heard the revoke
    lost = lost_message("search")
    jobs("resume", "search")
    drained("search")
    assert "Discarding revoked task" not in processes.log(second)
    wait_for_state(lost, State.FINISHED)

    assert runs("restart") == 0
    job = Job.objects.get(pk=job_id)
    assert (job.state, job.published_at) == (State.DISCARDED, published_at)
    assert queued_messages("search") == 0


def test_purging_a_queue_discards_its_ready_jobs_and_none_of_them_runs(processes):
    processes.dispatcher()  # no worker yet: the messages wait in Redis
    purged = [RecordJob.apply_async(["purged"], queue="search").id for _ in range(3)]
    other = RecordJob.apply_async(["other"], queue="reports").id
    lost = RecordJob.apply_async(["lost"], queue="search").id
    lose_message(lost, "search")

    result = celery("purge", "-f", "-Q", "search")
    assert result.returncode == 0, result.stderr
    assert "Purged 3 messages from 1 known task queue." in result.stdout
    for job_id in purged:
        assert wait_for_state(job_id, State.DISCARDED).error_message == "purged"

    processes.worker()
    drained("search")
    wait_for_state(lost, State.FINISHED)  # the dispatcher looked for lost messages of search
    assert runs("purged") == 0
    assert wait_for_state(other, State.FINISHED)
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.scard("jobs:purged-lists") == client.scard("jobs:purged-ids") == 0


def test_discard_all_of_a_queue_in_a_state_discards_those_jobs_and_none_of_them_runs(processes):
    paused_worker(processes, "search")
    processes.dispatcher()
    dropped = [RecordJob.apply_async(["dropped"], queue="search").id for _ in range(3)]
    later = RecordJob.apply_async(["later"], queue="search", countdown=3600).id
    elsewhere = RecordJob.apply_async(["elsewhere"], queue="reports", countdown=3600).id

    assert jobs("discard", "--all", "--queue", "search", "--state", "ready") == (
        "Discarded 3 jobs.\n"
    )
    assert all(
        job.state == State.DISCARDED and job.error_message == "discarded by an operator"
        for job in Job.objects.filter(pk__in=dropped)
    )
    assert Job.objects.get(pk=later).state == State.SCHEDULED  # another state
    assert Job.objects.get(pk=elsewhere).state == State.SCHEDULED  # another queue

    jobs("resume", "search")
    drained("search")
    assert runs("dropped") == 0
    assert jobs("discard", "--all", "--queue", "reports", "--state", "scheduled") == (
        "Discarded 1 job.\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--all", "--state", "finished"],
            "--state takes one of scheduled, ready, blocked, failed",
        ),
        (["--all", "--queue", "mail"], "Unknown queue 'mail': --queue takes one of high_priority"),
        (["some-id", "--queue", "search"], "--queue and --state choose jobs for --all"),
    ],
)
def test_discard_all_says_which_states_and_queues_it_takes(args, message):
    with pytest.raises(CommandError, match=message):
        jobs("discard", *args)
