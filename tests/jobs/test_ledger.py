"""Ledger statements under concurrency, in process."""

import threading
import time
from types import SimpleNamespace

import psycopg
import pytest
from django.db import connection, transaction

from jobs.ledger import writes
from jobs.models import Job, State
from jobs.worker import workerdb
from jobs.worker.execution import task_result
from jobs.worker.outcomes import OutcomeBuffer
from tests.jobs.helpers import claim as helpers_claim
from tests.jobs.sample_jobs import RecordJob

pytestmark = pytest.mark.django_db(transaction=True)


def claim(job_id: str) -> writes.Claim | None:
    return helpers_claim(job_id, args=["race"])


def test_a_claim_waits_for_the_dispatchers_commit_then_runs_the_job():
    job_id = RecordJob.apply_async(["race"], countdown=60).id
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.update(claim=claim(job_id)))
    with transaction.atomic():  # the dispatcher: promoted, publishing, not yet committed
        Job.objects.filter(pk=job_id).update(state=State.READY)
        worker.start()  # the message outran the commit
        worker.join(0.5)
        assert worker.is_alive(), "the claim must wait for the row, not skip it"
    worker.join(10)
    assert outcome["claim"].attempt == 1
    assert Job.objects.get(pk=job_id).state == State.CLAIMED


@pytest.mark.parametrize(
    ("change", "claimed"),
    [({"priority": 3}, True), ({"state": State.DISCARDED}, False)],
    ids=["still-ready", "discarded-meanwhile"],
)
def test_a_claim_waits_for_a_transaction_holding_the_ready_row_and_sees_its_change(change, claimed):
    """The claim's plain UPDATE, on a row that is ready when it looks: it waits for the
    transaction that holds the row (an operator's action, say), then claims what that
    transaction left, and nothing if it left the job no longer ready."""
    job_id = RecordJob.delay("held").id
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.update(claim=claim(job_id)))
    with transaction.atomic():
        Job.objects.filter(pk=job_id).update(**change)
        worker.start()
        worker.join(0.5)
        assert worker.is_alive(), "the claim must wait for the row, not skip it"
    worker.join(10)
    job = Job.objects.get(pk=job_id)
    if claimed:
        assert outcome["claim"].attempt == 1
        assert (job.state, job.attempts) == (State.CLAIMED, 1)
    else:
        assert outcome["claim"] is None
        assert (job.state, job.attempts) == (State.DISCARDED, 0)


def test_a_second_claim_of_the_same_job_gets_nothing():
    job_id = RecordJob.delay("twice").id
    assert claim(job_id).attempt == 1
    assert claim(job_id) is None
    assert Job.objects.get(pk=job_id).attempts == 1


def test_outcomes_postgresql_refused_are_written_once_it_is_back(monkeypatch):
    """A worker process outlives a PostgreSQL restart: the outcomes it could not write then
    must not leave its jobs claimed for ever (it heartbeats, so nothing would recover them)."""
    job_id = RecordJob.delay("restart").id
    attempt = claim(job_id).attempt
    conclude, calls = writes.conclude, []

    def refused_while_restarting(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        try:
            return conclude(batch)
        finally:
            workerdb.close()

    monkeypatch.setattr(writes, "conclude", refused_while_restarting)
    buffer = OutcomeBuffer(max_delay=0.01, retry_delay=0.2)
    buffer.add(writes.Outcome(job_id, attempt, State.FINISHED, _result()))
    deadline = time.monotonic() + 10
    while Job.objects.get(pk=job_id).state != State.FINISHED:
        assert time.monotonic() < deadline, f"still {Job.objects.get(pk=job_id).state}"
        time.sleep(0.05)
    assert calls == [1, 1]


def _result() -> dict:
    request = SimpleNamespace(argsrepr=None, kwargsrepr=None, hostname="test")
    return task_result(RecordJob, request, ("restart",), {}, "SUCCESS", None)


def test_the_workers_ledger_statements_are_prepared_once_per_process():
    """workerdb's claim and outcome are parsed and planned once per process, not on every
    job: Django's connection settings (prepare_threshold=None) had silently turned that off."""
    job_id = RecordJob.delay("prepared").id
    try:
        claimed = writes.claim(
            job_id=job_id,
            class_name="RecordJob",
            queue="default",
            priority=0,
            args=["prepared"],
            kwargs={},
            worker="test",
            process_id=None,
            max_attempts=5,
        )
        assert claimed is not None
        prepared = workerdb.fetchall("SELECT statement FROM pg_prepared_statements", [])
        assert any("SET state = 'claimed'" in statement for (statement,) in prepared), prepared
    finally:
        workerdb.close()


def test_a_migration_changing_a_returned_column_does_not_break_the_workers_statements():
    """A prepared statement whose result column changed type on another connection is
    refused for good on this one ("cached plan must not change result type"): workerdb drops
    its prepared statements and runs it again, as after a deploy's migration."""
    job_id = RecordJob.delay("migrated").id
    sql = "SELECT queue FROM jobs_job WHERE id = %s"
    params = {
        k: v
        for k, v in connection.get_connection_params().items()
        if k not in ("cursor_factory", "context")
    }
    try:
        assert workerdb.fetchone(sql, [job_id]) == ("default",)
        with psycopg.connect(**params, autocommit=True) as migration:
            migration.execute("ALTER TABLE jobs_job ALTER COLUMN queue TYPE varchar(101)")
        assert workerdb.fetchone(sql, [job_id]) == ("default",)
    finally:
        workerdb.close()
        with psycopg.connect(**params, autocommit=True) as migration:
            migration.execute("ALTER TABLE jobs_job ALTER COLUMN queue TYPE varchar(100)")
