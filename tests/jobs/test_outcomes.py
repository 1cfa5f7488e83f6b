"""Once claimed, a job gets an outcome: never left `claimed` by a live process, which nothing
would recover. Outcomes held back while PostgreSQL was away, refused by PostgreSQL, or
spoiled by an odd message all end their job in a final state or a retry."""

import contextlib
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_celery_results.models import TaskResult

from config.celery import app
from jobs.base import enqueue_all, publish
from jobs.ledger import recovery, writes
from jobs.models import Job, Process, State
from jobs.worker import workerdb
from jobs.worker.execution import task_result
from jobs.worker.outcomes import OutcomeBuffer
from tests.jobs import helpers
from tests.jobs.helpers import wait_for, wait_for_state
from tests.jobs.sample_jobs import CutOffJob, GatedJob, NulErrorJob, RecordJob, runs

pytestmark = pytest.mark.django_db(transaction=True)


# --- In process: the batched statements -------------------------------------------------------


def test_a_batch_with_two_attempts_of_one_job_records_the_latest_and_the_rest():
    """As after a PostgreSQL restart: attempt 1's outcome waited while the job was recovered
    and run again. PostgreSQL refuses an upsert touching a row twice, so one duplicate used to
    sink the whole batch."""
    twice, other = RecordJob.delay("twice").id, RecordJob.delay("other").id
    first = claim(twice)
    Job.objects.filter(pk=twice).update(state=State.READY)  # recovered: taken for dead
    second = claim(twice)
    batch = [
        outcome(twice, second.attempt, run=2),
        outcome(twice, first.attempt, run=1),  # the older one, flushed late
        outcome(other, claim(other).attempt, run=1),
        outcome(twice, second.attempt, run=2),  # the same outcome given twice
    ]
    try:
        assert writes.conclude(batch) == 2
    finally:
        workerdb.close()
    job = Job.objects.get(pk=twice)
    assert (job.state, job.attempts) == (State.FINISHED, 2)
    assert '"run": 2' in TaskResult.objects.get(task_id=twice).result
    assert Job.objects.get(pk=other).state == State.FINISHED


def test_the_buffer_keeps_one_outcome_per_job_the_latest_attempts():
    buffer = OutcomeBuffer(max_delay=60)
    buffer.add(outcome(JOB_A, 2, run=2))
    buffer.add(outcome(JOB_A, 1, run=1))
    buffer.add(outcome(JOB_B, 1, run=1))
    try:
        assert {(o.job_id, o.attempt) for o in buffer.pending.values()} == {
            (JOB_A, 2),
            (JOB_B, 1),
        }
    finally:
        buffer.timer.cancel()


def test_an_outcome_postgresql_refuses_releases_its_job_and_the_rest_of_its_batch_is_written():
    refused, fine = RecordJob.delay("refused").id, RecordJob.delay("fine").id
    attempts = {job_id: claim(job_id).attempt for job_id in (refused, fine)}
    buffer = OutcomeBuffer(max_delay=60)
    buffer.add(outcome(refused, attempts[refused], run=1, periodic_task_name="x" * 300))
    buffer.add(outcome(fine, attempts[fine], run=1))
    try:
        buffer.flush()
    finally:
        workerdb.close()
    job = Job.objects.get(pk=refused)
    assert (job.state, job.published_at, job.process_id) == (State.READY, None, None)
    assert job.error_class == "OutcomeNotRecorded"
    assert "attempt 1 ended finished, but PostgreSQL refused to record it" in job.error_message
    assert Job.objects.get(pk=fine).state == State.FINISHED
    assert buffer.pending == {}


def test_an_outcome_refused_after_the_last_attempt_fails_its_job():
    job_id = GatedJob.delay("last", 1).id  # max_attempts = 1
    attempt = claim(job_id, class_name="GatedJob").attempt
    OutcomeBuffer().add(outcome(job_id, attempt, run=1, periodic_task_name="x" * 300), now=True)
    workerdb.close()
    job = Job.objects.get(pk=job_id)
    assert (job.state, job.error_class) == (State.FAILED, "OutcomeNotRecorded")
    assert job.finished_at is not None


def test_enqueue_all_refuses_two_jobs_with_one_id_and_writes_nothing():
    task_id = str(uuid.uuid4())
    with pytest.raises(ValueError, match="give each job its own task_id"):
        enqueue_all([RecordJob.s("a").set(task_id=task_id), RecordJob.s("b").set(task_id=task_id)])
    assert not Job.objects.filter(pk=task_id).exists()


# --- A real worker ----------------------------------------------------------------------------


@pytest.mark.worker
def test_an_outcome_held_back_while_its_job_is_recovered_and_run_again_does_not_sink_the_newer(
    processes, settings
):
    """The PostgreSQL fault run's loss, step by step: outcomes cannot be written (as while
    PostgreSQL is away), the process's heartbeat goes silent, the job is recovered and the
    same process runs it again; then the writes come back with both attempts' outcomes."""
    settings.JOBS_PROCESS_ALIVE_THRESHOLD = 1  # this test recovers orphans itself
    processes.worker(
        env={
            # A blocked outcome write fails fast, with the error an unreachable server gives.
            "PGOPTIONS": "-c lock_timeout=200",
            "JOBS_HEARTBEAT_INTERVAL": "60",
            "JOBS_PROCESS_ALIVE_THRESHOLD": "180",
        }
    )
    key = uuid.uuid4().hex
    with results_locked():
        job_id = RecordJob.delay(key).id
        wait_for(lambda: runs(key) == 1, message="the first run")
        wait_for(lambda: recover(job_id), message="the job to be recovered as an orphan")
        wait_for(lambda: runs(key) == 2, message="the second run, by the same process")
        time.sleep(1)  # its outcome joins the first one in the buffer
    job = wait_for_state(job_id, State.FINISHED, timeout=15)
    assert job.attempts == 2
    assert '"run": 2' in TaskResult.objects.get(task_id=job_id).result


@pytest.mark.worker
def test_a_job_whose_outcome_postgresql_refuses_runs_again_and_finishes(processes):
    """A sender's oversized header spoils the result row; the other jobs of its batch are
    written, and the job leaves `claimed` for another run."""
    processes.worker()
    processes.dispatcher()
    spoiled_key, fine_key = uuid.uuid4().hex, uuid.uuid4().hex
    spoiled = app.send_task(
        "RecordJob",
        args=[spoiled_key],
        queue="default",
        headers={"periodic_task_name": "x" * 300},
    )
    fine = RecordJob.delay(fine_key)
    assert wait_for_state(fine.id, State.FINISHED).attempts == 1
    job = wait_for_state(spoiled.id, State.FINISHED)
    assert (job.attempts, runs(spoiled_key)) == (2, 2)


@pytest.mark.worker
def test_a_message_without_argsrepr_headers_runs_to_its_end(celery_worker):
    """Celery's own clients send argsrepr and kwargsrepr; other senders need not."""
    key = uuid.uuid4().hex
    job_id = publish_bare_message("RecordJob", [key], {"payload": {"n": 1}})
    job = wait_for_state(job_id, State.FINISHED, State.FAILED)
    assert (job.state, job.args, job.kwargs) == (State.FINISHED, [key], {"payload": {"n": 1}})
    assert TaskResult.objects.get(task_id=job_id).status == "SUCCESS"


@pytest.mark.worker
def test_a_message_with_arguments_run_does_not_take_fails_the_job(celery_worker):
    job_id = publish_bare_message("RecordJob", [], {"colour": "blue"})
    job = wait_for_state(job_id, State.FAILED, State.FINISHED)
    assert (job.state, job.error_class, job.attempts) == (State.FAILED, "TypeError", 1)
    assert "colour" in job.error_message


@pytest.mark.worker
def test_a_job_that_loses_its_database_connection_midway_runs_again_and_finishes(processes):
    """PostgreSQL restarting under a running job is not the job's fault: it is retried
    whatever its retry_on, and the next job of that process gets a working connection."""
    processes.worker()
    processes.dispatcher()
    key = uuid.uuid4().hex
    job = wait_for_state(CutOffJob.delay(key).id, State.FINISHED, State.FAILED)
    assert (job.state, job.attempts, runs(key)) == (State.FINISHED, 2, 2)
    assert wait_for_state(RecordJob.delay(key).id, State.FINISHED).attempts == 1


@pytest.mark.worker
def test_an_error_message_with_a_nul_character_is_recorded_and_the_job_fails(celery_worker):
    """NUL may come from user input; PostgreSQL text cannot hold it."""
    key = uuid.uuid4().hex
    job = wait_for_state(NulErrorJob.delay(key).id, State.FAILED)
    assert (job.error_class, job.error_message) == ("ValueError", f"bad byte \ufffd in {key}")


# --- helpers ----------------------------------------------------------------------------------

JOB_A, JOB_B = str(uuid.uuid4()), str(uuid.uuid4())


def claim(job_id: str, *, class_name: str = "RecordJob") -> writes.Claim:
    claimed = helpers.claim(job_id, class_name=class_name)
    assert claimed is not None
    return claimed


def outcome(job_id: str, attempt: int, *, run: int, periodic_task_name=None) -> writes.Outcome:
    request = SimpleNamespace(
        argsrepr=None, kwargsrepr=None, hostname="test", periodic_task_name=periodic_task_name
    )
    result = task_result(RecordJob, request, (), {}, "SUCCESS", {"run": run})
    return writes.Outcome(job_id, attempt, State.FINISHED, result)


@contextlib.contextmanager
def results_locked():
    """Hold django-celery-results' table so that no outcome can be written meanwhile."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params) as locker:
        locker.execute("LOCK TABLE django_celery_results_taskresult IN EXCLUSIVE MODE")
        yield
        locker.commit()


def recover(job_id: str) -> bool:
    """One dispatcher recovery pass: orphans ready again, published before the commit."""
    with transaction.atomic():
        ready, _failed = recovery.recover_orphans()
        publish(ready)
    return str(job_id) in {str(job.id) for job in ready}


def publish_bare_message(task: str, args: list, kwargs: dict) -> str:
    """A protocol-2 message with only the headers a worker needs: no argsrepr/kwargsrepr."""
    job_id = str(uuid.uuid4())
    with app.producer_or_acquire() as producer:
        producer.publish(
            [args, kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}],
            exchange="default",
            routing_key="default",
            serializer="json",
            headers={"lang": "py", "task": task, "id": job_id, "root_id": job_id},
        )
    return job_id


# --- Recovery after a PostgreSQL restart -------------------------------------------------------


def test_no_process_is_taken_for_dead_until_heartbeats_could_land_after_a_postgresql_restart(
    settings,
):
    """During an outage every process's heartbeats fail, live ones too. Recovering on that
    silence re-ran the jobs of live processes (an email between its send and its `sent` mark
    went out twice in one of ten `bench/faults.py --fault postgres` runs). The rule holds for
    whatever threshold: nothing is taken for dead until PostgreSQL has been up that long."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extract(epoch FROM now() - pg_postmaster_start_time())")
        uptime = float(cursor.fetchone()[0])
    silent = Process.objects.create(
        kind=Process.Kind.FORK,
        name="silent since before the restart",
        hostname="elsewhere",
        pid=4242,
        last_heartbeat_at=timezone.now() - timedelta(seconds=uptime + 3600),
    )
    job_id = RecordJob.delay("silent").id
    claim(job_id)
    Job.objects.filter(pk=job_id).update(process_id=silent.pk)

    settings.JOBS_PROCESS_ALIVE_THRESHOLD = uptime + 60  # the server started more recently
    assert not recover(job_id)
    assert Job.objects.get(pk=job_id).state == State.CLAIMED
    assert Process.objects.filter(pk=silent.pk).exists()

    settings.JOBS_PROCESS_ALIVE_THRESHOLD = uptime / 2  # up for longer: the silence counts
    assert recover(job_id)
    assert Job.objects.get(pk=job_id).state == State.READY
    assert not Process.objects.filter(pk=silent.pk).exists()


def test_an_outcomes_task_result_columns_are_the_columns_conclude_writes():
    """writes.TaskResultColumns types Outcome.result; _CONCLUDE writes OUTCOME_FIELDS, in order."""
    assert tuple(writes.TaskResultColumns.__annotations__) == writes.OUTCOME_FIELDS
