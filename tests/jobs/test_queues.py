"""Queues: pause and resume, priorities, time limits, and a Redis that lost its data."""

import json
import time

import pytest
import redis
from django.conf import settings
from django.core.management import call_command

from jobs.models import Job, QueuePause, State
from tests.jobs.helpers import queued_messages, wait_for, wait_for_state
from tests.jobs.sample_jobs import OrderJob, RecordJob, order, runs

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_paused_queue_keeps_its_jobs_ready_while_others_run_and_resume_runs_them(processes):
    processes.worker()
    processes.dispatcher()
    call_command("jobs", "pause", "search")
    waiting = [RecordJob.apply_async(["paused"], queue="search").id for _ in range(3)]
    served = RecordJob.apply_async(["served"], queue="default").id

    wait_for_state(served, State.FINISHED)
    time.sleep(2)  # a worker had time to take them, had it not been paused
    assert runs("paused") == 0
    assert Job.objects.filter(pk__in=waiting, state=State.READY).count() == 3

    call_command("jobs", "resume", "search")
    for job_id in waiting:
        wait_for_state(job_id, State.FINISHED, timeout=30)
    assert runs("paused") == 3


def test_a_worker_started_while_a_queue_is_paused_leaves_it_alone(processes, capsys):
    call_command("jobs", "pause", "reports")
    processes.worker()
    processes.dispatcher()
    job_id = RecordJob.apply_async(["late-start"], queue="reports").id
    time.sleep(3)
    assert Job.objects.get(pk=job_id).state == State.READY

    call_command("jobs", "status")
    status = capsys.readouterr().out
    assert "reports" in status and "paused" in status

    call_command("jobs", "resume", "reports")
    wait_for_state(job_id, State.FINISHED, timeout=30)
    assert not QueuePause.objects.exists()


def test_a_job_taken_just_before_the_pause_is_handed_back_not_run(processes):
    """A message already in a worker's hands when the pause lands is not run."""
    # No pause reconciling during the test: heartbeats (and so the threshold) are slow.
    slow = {"JOBS_HEARTBEAT_INTERVAL": "60", "JOBS_PROCESS_ALIVE_THRESHOLD": "300"}
    processes.worker(env=slow)
    processes.dispatcher(env=slow)
    time.sleep(2)  # the worker's start-up reconciliation (one inspect round trip) is over
    QueuePause.objects.create(queue="default")  # no broadcast: the worker still consumes
    job_id = RecordJob.delay("handed-back").id
    wait_for(lambda: queued_messages("default") == 0, message="message taken")
    time.sleep(1)
    job = Job.objects.get(pk=job_id)
    assert job.state == State.READY and runs("handed-back") == 0

    call_command("jobs", "resume", "default")
    wait_for_state(job_id, State.FINISHED, timeout=30)
    assert runs("handed-back") == 1


def test_pausing_an_unknown_queue_says_which_exist():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="use one of high_priority, default"):
        call_command("jobs", "pause", "emails")


def test_high_priority_first_then_lower_priority_numbers_within_a_queue(processes):
    OrderJob.apply_async(["default-5"], priority=5)
    OrderJob.apply_async(["default-0"], priority=0)
    OrderJob.apply_async(["high-0"], queue="high_priority")
    OrderJob.apply_async(["default-9"], priority=9)
    OrderJob.apply_async(["high-0"], queue="high_priority")
    OrderJob.apply_async(["default-0"])
    processes.worker(concurrency=1)

    wait_for(lambda: len(order()) == 6, message="six jobs run")
    assert order() == ["high-0", "high-0", "default-0", "default-0", "default-5", "default-9"]


def test_a_priority_outside_0_to_9_is_refused_at_enqueue():
    with pytest.raises(ValueError, match="0 \\(most urgent\\) to 9"):
        RecordJob.apply_async(["x"], priority=12)
    assert not Job.objects.exists()


def test_every_message_carries_its_queues_time_limits_below_the_visibility_timeout():
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert all(hard < visibility for _, hard in settings.JOB_TIME_LIMITS.values())
    assert set(settings.JOB_TIME_LIMITS) == set(settings.JOB_QUEUES)
    assert settings.JOB_TIME_LIMITS["reports"][1] > settings.JOB_TIME_LIMITS["high_priority"][1]

    RecordJob.apply_async(["limits"], queue="reports")
    client = redis.Redis.from_url(settings.REDIS_URL)
    message = json.loads(client.lindex("reports", 0))
    assert message["headers"]["timelimit"] == [1900, 1800]  # hard, soft


def test_jobs_whose_messages_redis_lost_are_published_again_and_run_once(processes, private_redis):
    ids = [RecordJob.delay(f"flushed-{i}").id for i in range(5)]
    assert queued_messages(url=private_redis.url) == 5
    processes.dispatcher(env=private_redis.env)
    time.sleep(1)  # the dispatcher has seen this Redis
    redis.Redis.from_url(private_redis.url).flushall()  # as after a crash without persistence

    wait_for(lambda: queued_messages(url=private_redis.url) == 5, timeout=15, message="republish")
    processes.worker(env=private_redis.env)
    for job_id in ids:
        wait_for_state(job_id, State.FINISHED)
    assert [runs(f"flushed-{i}") for i in range(5)] == [1] * 5
