"""Concurrency limits: at most N per key; the rest wait blocked and run in order."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from jobs.base import register
from jobs.ledger import concurrency
from jobs.ledger.concurrency import ConcurrencyLimit
from jobs.models import Job, State
from tests.jobs.helpers import wait_for, wait_for_state
from tests.jobs.sample_jobs import OneAtATimeJob, RecordJob, most_at_once, runs

pytestmark = pytest.mark.django_db(transaction=True)


@register
class OnePendingJob(RecordJob.__class__):
    """Unique-job behaviour: a second one for the same key is discarded, not queued."""

    limits_concurrency = ConcurrencyLimit(
        key=lambda key, payload=None: key, to=1, on_conflict="discard"
    )


def states(ids) -> list[str]:
    by_id = {str(k): v for k, v in Job.objects.filter(pk__in=ids).values_list("id", "state")}
    return [by_id[str(job_id)] for job_id in ids]


def test_jobs_beyond_the_limit_wait_blocked_and_are_released_in_order():
    ids = [OneAtATimeJob.delay(7, "order").id for _ in range(3)]
    other_user = OneAtATimeJob.delay(8, "order").id
    assert states(ids) == ["ready", "blocked", "blocked"]
    assert states([other_user]) == ["ready"]  # another key has its own slot
    assert Job.objects.get(pk=ids[0]).concurrency_key == "OneAtATimeJob:7"

    Job.objects.filter(pk=ids[0]).update(state=State.FINISHED, finished_at=timezone.now())
    with transaction.atomic():
        released = concurrency.release_blocked()
    assert [str(job.id) for job in released] == [str(ids[1])]
    assert states(ids) == ["finished", "ready", "blocked"]


def test_a_slot_held_longer_than_the_duration_no_longer_counts():
    first, second = (OneAtATimeJob.delay(9, "stale").id for _ in range(2))
    long_ago = timezone.now() - timedelta(hours=1)  # its process died; nobody released it
    Job.objects.filter(pk=first).update(state=State.CLAIMED, claimed_at=long_ago)

    with transaction.atomic():
        concurrency.release_blocked()
    assert states([first, second]) == ["claimed", "ready"]


def test_a_scheduled_job_with_a_key_waits_for_a_slot_when_due():
    running = OneAtATimeJob.delay(10, "later").id
    later = OneAtATimeJob.apply_async([10, "later"], countdown=3600).id
    Job.objects.filter(pk=later).update(scheduled_at=timezone.now())
    from jobs.ledger.writes import promote_due

    with transaction.atomic():
        promote_due()
        concurrency.release_blocked()
    assert states([running, later]) == ["ready", "blocked"]


def test_discard_on_conflict_keeps_one_pending_job_per_key():
    first = OnePendingJob.delay("post-1").id
    second = OnePendingJob.delay("post-1").id
    other = OnePendingJob.delay("post-2").id
    assert states([first, second, other]) == ["ready", "discarded", "ready"]
    dropped = Job.objects.get(pk=second)
    assert dropped.error_class == "ConcurrencyLimit"
    assert "already pending" in dropped.error_message


def test_a_rolled_back_enqueue_takes_no_slot():
    with pytest.raises(RuntimeError), transaction.atomic():
        OneAtATimeJob.delay(11, "rollback")
        raise RuntimeError("request failed")
    assert states([OneAtATimeJob.delay(11, "rollback").id]) == ["ready"]


def test_a_bad_limit_is_refused_when_declared():
    with pytest.raises(ValueError, match="block' or 'discard"):
        ConcurrencyLimit(key=lambda x: x, on_conflict="queue")
    with pytest.raises(ValueError, match="at least one"):
        ConcurrencyLimit(key=lambda x: x, to=0)


@pytest.mark.worker
def test_five_jobs_for_one_user_never_run_two_at_once_and_all_finish(processes):
    processes.worker(concurrency=2)
    processes.dispatcher()
    ids = [OneAtATimeJob.delay(1, "five").id for _ in range(5)]
    others = [OneAtATimeJob.delay(2, "five").id for _ in range(2)]

    for job_id in ids + others:
        wait_for_state(job_id, State.FINISHED, timeout=60)
    assert runs("five") == 7
    assert most_at_once("five", 1) == 1
    assert most_at_once("five", 2) == 1
    wait_for(lambda: not Job.objects.blocked().exists(), message="nothing blocked")
