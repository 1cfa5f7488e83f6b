"""Ledger statements under concurrency, in process."""

import threading

import pytest
from django.db import transaction

from jobs import ledger, workerdb
from jobs.models import Job, State
from tests.jobs.sample_jobs import RecordJob

pytestmark = pytest.mark.django_db(transaction=True)


def claim(job_id: str) -> ledger.Claim | None:
    try:
        return ledger.claim(
            job_id=job_id, class_name="RecordJob", queue="default", priority=0,
            args=["race"], kwargs={}, worker="test", process_id=None, max_attempts=5,
        )  # fmt: skip
    finally:
        workerdb.close()


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


def test_a_second_claim_of_the_same_job_gets_nothing():
    job_id = RecordJob.delay("twice").id
    assert claim(job_id).attempt == 1
    assert claim(job_id) is None
    assert Job.objects.get(pk=job_id).attempts == 1
