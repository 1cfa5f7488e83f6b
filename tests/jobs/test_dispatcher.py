"""The dispatcher: due jobs and lost publishes reach Redis exactly once."""

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


def test_dispatcher_heartbeat_file_shows_its_loop_is_alive(processes, tmp_path):
    alive = tmp_path / "dispatcher.alive"
    processes.start(["manage.py", "jobs", "dispatcher", "--heartbeat-file", str(alive)])
    wait_for(alive.exists, message="the heartbeat file")
    first = alive.stat().st_mtime
    wait_for(lambda: alive.stat().st_mtime > first, message="a fresh heartbeat")
