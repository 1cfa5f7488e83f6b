"""`python manage.py jobs …`: the output an operator reads."""

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_celery_results.models import TaskResult

from config.celery import app
from jobs.models import Job, PeriodicRun, State
from jobs.tasks import PruneJobsJob
from tests.conftest import ROOT, test_database_url
from tests.jobs.helpers import wait_for, wait_for_state
from tests.jobs.sample_jobs import GatedJob, RecordJob

pytestmark = pytest.mark.django_db(transaction=True)


def jobs(*args: str) -> str:
    out = StringIO()
    call_command("jobs", *args, stdout=out)
    return out.getvalue()


def make_failed(class_name: str = "GatedJob", *, message: str = "boom") -> Job:
    job = Job.objects.get(pk=GatedJob.apply_async(["k", 1], countdown=60).id)
    Job.objects.filter(pk=job.pk).update(
        state=State.FAILED,
        class_name=class_name,
        attempts=1,
        finished_at=timezone.now(),
        error_class="ValueError",
        error_message=message,
        error_traceback="Traceback (most recent call last):\n  ValueError: " + message,
    )
    return Job.objects.get(pk=job.pk)


def test_status_counts_by_state_class_and_queue():
    RecordJob.apply_async(["a"], countdown=60)
    RecordJob.apply_async(["b"], countdown=60, queue="reports")
    make_failed()
    out = jobs("status")
    assert "scheduled           2" in out
    assert "failed              1" in out
    assert "total               3" in out
    record_row = next(line for line in out.splitlines() if line.strip().startswith("RecordJob"))
    assert record_row.split()[1:3] == ["2", "0"]  # 2 scheduled, 0 ready
    assert "high_priority" in out and "reports" in out


def test_failed_lists_class_error_and_time_and_filters_by_class():
    make_failed(message="SMTP refused")
    make_failed("EmailNotificationJob", message="mailbox full")
    out = jobs("failed")
    assert "GatedJob" in out and "ValueError: SMTP refused" in out
    assert "EmailNotificationJob" in out
    filtered = jobs("failed", "--class", "EmailNotificationJob")
    assert "mailbox full" in filtered and "SMTP refused" not in filtered
    Job.objects.all().delete()
    assert jobs("failed") == "No failed jobs.\n"


def test_show_prints_arguments_state_and_traceback():
    job = make_failed(message="the report is too big")
    out = jobs("show", str(job.pk))
    assert f"id:                 {job.pk}" in out
    assert "arguments:          ['k', 1]" in out
    assert "attempts:           1 of 1" in out
    assert "error:              ValueError: the report is too big" in out
    assert "Traceback (most recent call last)" in out


def test_show_and_retry_refuse_unknown_ids_with_a_hint():
    with pytest.raises(CommandError, match="No job 'nope'. `jobs failed`"):
        jobs("show", "nope")
    with pytest.raises(CommandError, match="Give one job id, or --all"):
        jobs("retry")


def test_retry_one_or_all_of_a_class_and_discard():
    first, second = make_failed(), make_failed("EmailNotificationJob")
    assert jobs("retry", str(first.pk)) == "Re-enqueued 1 job.\n"
    first.refresh_from_db()
    assert (first.state, first.attempts, first.error_class) == (State.SCHEDULED, 0, "")
    assert jobs("retry", "--all", "--class", "GatedJob") == "Re-enqueued 0 jobs.\n"
    assert jobs("discard", "--all", "--reason", "obsolete") == "Discarded 1 job.\n"
    second.refresh_from_db()
    assert (second.state, second.error_message) == (State.DISCARDED, "obsolete")


def test_prune_deletes_old_finished_jobs_and_results_only():
    old, recent, failed = (RecordJob.apply_async([n], countdown=60) for n in ("old", "new", "f"))
    Job.objects.filter(pk__in=[old.id, recent.id]).update(state=State.FINISHED)
    Job.objects.filter(pk=old.id).update(finished_at=timezone.now() - timedelta(days=8))
    Job.objects.filter(pk=recent.id).update(finished_at=timezone.now() - timedelta(days=1))
    Job.objects.filter(pk=failed.id).update(
        state=State.FAILED, finished_at=timezone.now() - timedelta(days=30)
    )
    TaskResult.objects.create(task_id=old.id, status="SUCCESS", date_done=timezone.now())
    TaskResult.objects.filter(task_id=old.id).update(date_done=timezone.now() - timedelta(days=8))
    week_ago = timezone.now() - timedelta(days=8)
    PeriodicRun.objects.create(task="nightly", after=week_ago - timedelta(days=1), sent_at=week_ago)
    latest = PeriodicRun.objects.create(task="nightly", after=week_ago)
    out = jobs("prune", "--older-than", "7d", "--batch-size", "1")
    assert out == "Pruned 1 jobs and 1 task results older than 7d.\n"
    assert set(Job.objects.values_list("pk", flat=True)) == {
        uuid.UUID(recent.id),
        uuid.UUID(failed.id),
    }
    assert list(PeriodicRun.objects.all()) == [latest]  # beat's record of its recent sends
    with pytest.raises(CommandError, match="30m, 12h or 7d"):
        jobs("prune", "--older-than", "a week")


@pytest.mark.worker
def test_worker_start_daemon_and_graceful_stop(tmp_path):
    pidfile = tmp_path / "worker.pid"
    env = {"DATABASE_URL": test_database_url()}
    manage = [sys.executable, "manage.py", "jobs", "worker"]
    started = subprocess.run(
        [
            *manage,
            "start",
            "--daemon",
            "--pidfile",
            str(pidfile),
            "--queues",
            "default",
            "--concurrency",
            "1",
            "--logfile",
            str(tmp_path / "worker.log"),
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 0, started.stderr
    assert "Worker started in the background" in started.stdout
    try:
        wait_for(pidfile.exists, message="the pidfile")
        wait_for(lambda: app.control.ping(timeout=0.5), message="the worker to answer")
        job = PruneJobsJob.delay(7)  # a job the project registers
        wait_for_state(job.id, State.FINISHED)
    finally:
        stopped = subprocess.run(
            [*manage, "stop", "--pidfile", str(pidfile)],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped" in stopped.stdout
    time.sleep(0.5)
    assert not pidfile.exists()
    again = subprocess.run(
        [*manage, "stop", "--pidfile", str(pidfile)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode != 0
    assert "is the worker running?" in again.stderr
