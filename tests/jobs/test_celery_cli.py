"""Celery's own CLI and the ledger tell one truth (issue 18, items 1, 4 and 5): `celery call`
and `celery result` work on jobs, a job sent by name runs on its class's queue whoever sends
it, and `celery inspect` answers from the ledger where workers' memory cannot.

Each test drives the real `celery` command (or a Django shell, or a bare script) as a
subprocess against the test database and Redis, with a real worker where a job runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
import redis
from django.conf import settings
from django_celery_results.models import TaskResult

from config.celery import app
from jobs.models import Job, State
from tests.conftest import ROOT, test_database_url
from tests.jobs import sample_jobs
from tests.jobs.helpers import PRIORITY_SEP, wait_for, wait_for_state
from tests.jobs.sample_jobs import HeldJob, RecordJob

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> subprocess.CompletedProcess:
    """A command in the project directory, against the test database."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": test_database_url()},
        capture_output=True,
        text=True,
        timeout=120,  # a safeguard against a hang, not a measurement
    )


def celery(*args: str) -> subprocess.CompletedProcess:
    return run("-m", "celery", "-A", "config", *args)


def celery_call(name: str, args: list) -> str:
    called = celery("call", name, "--args", json.dumps(args))
    assert called.returncode == 0, called.stderr
    return str(uuid.UUID(called.stdout.strip()))  # it prints the job's id, and nothing else


def inspect(hostname: str, command: str, *args: str) -> object:
    asked = celery("inspect", command, *args, "--json", "--destination", hostname)
    assert asked.returncode == 0, asked.stdout + asked.stderr
    return json.loads(asked.stdout)[hostname]


def queued_ids(queue: str) -> set[str]:
    """Ids of the messages waiting in a queue's Redis lists (one per priority step)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [queue] + [f"{queue}{PRIORITY_SEP}{step}" for step in range(1, 10)]
    return {json.loads(raw)["headers"]["id"] for key in keys for raw in client.lrange(key, 0, -1)}


@pytest.fixture
def empty_queues():
    app.control.purge()
    yield
    app.control.purge()  # no worker ran them: they must not reach a later test's worker


# --- celery call / celery result (item 1) ------------------------------------------------------


@pytest.mark.worker
def test_celery_call_runs_a_job_on_its_class_queue_and_celery_result_prints_it(celery_worker, user):
    job_id = celery_call("EmailNotificationJob", [user.pk, "security_alert"])

    job = wait_for_state(job_id, State.FINISHED)
    assert job.class_name == "EmailNotificationJob"
    assert job.queue == "high_priority"  # a security alert's queue, not Celery's default
    assert job.args == [user.pk, "security_alert"]

    shown = celery("result", job_id)
    assert shown.returncode == 0, shown.stderr
    stored = json.loads(TaskResult.objects.get(task_id=job_id).result)
    assert shown.stdout.strip() == str(stored)
    assert stored["status"] == "sent"


@pytest.mark.worker
@pytest.mark.parametrize(
    ("name", "args", "state", "says"),
    [
        ("GatedJob", ["never-allowed", 3], State.FAILED, "failed (FAILURE): ValueError: report"),
        (
            "UserNameJob",
            [987654321],
            State.DISCARDED,
            "was discarded (REJECTED): User.DoesNotExist",
        ),
    ],
)
def test_celery_result_says_how_a_job_ended_badly_without_a_traceback(
    celery_worker, name, args, state, says
):
    job_id = celery_call(name, args)
    wait_for_state(job_id, state)

    shown = celery("result", job_id)
    assert shown.returncode == 1
    assert says in shown.stderr
    assert "Traceback" not in shown.stdout + shown.stderr

    traceback = celery("result", "--traceback", job_id)
    assert traceback.returncode == 0, traceback.stderr
    assert traceback.stdout.startswith("Traceback")
    assert says.split(": ")[1] in traceback.stdout  # the job's own error, from its run


# --- routes: a job sent by name runs on its class's queue (item 5) ------------------------------

REPORT = ["user_activity", {"start_date": "2026-11-01", "end_date": "2026-11-02"}, 1]
# A script that never imported a job class. In a Django shell, admin has imported some (their
# options reach Celery's send_task), not search's: the router imports those itself.
SEND_BY_NAME = """
import sys
from config.celery import app
if {script}:
    assert "reports.tasks" not in sys.modules and "notifications.tasks" not in sys.modules
print(app.send_task({name!r}, {args!r}).id)
"""


@pytest.mark.parametrize(
    ("name", "args", "queue"),
    [
        ("ReportGenerationJob", REPORT, "reports"),
        ("EmailNotificationJob", [1, "password_reset"], "high_priority"),
        ("EmailNotificationJob", [1, "welcome"], "default"),
        ("ContentIndexingJob", [1, "post"], "search"),
    ],
)
@pytest.mark.parametrize("sender", ["celery call", "script", "django shell"])
def test_a_job_sent_by_name_without_a_queue_lands_on_its_class_queue(
    empty_queues, sender, name, args, queue
):
    if sender == "celery call":
        job_id = celery_call(name, args)
    else:
        code = SEND_BY_NAME.format(name=name, args=args, script=sender == "script")
        sent = run("-c", code) if sender == "script" else run("manage.py", "shell", "-c", code)
        assert sent.returncode == 0, sent.stderr
        job_id = sent.stdout.strip().splitlines()[-1]

    assert job_id in queued_ids(queue)
    others = set(settings.JOB_QUEUES) - {queue}
    assert not any(job_id in queued_ids(other) for other in others)


def test_an_explicit_queue_wins_over_the_class_queue(empty_queues):
    called = celery(
        "call", "ReportGenerationJob", "--args", json.dumps(REPORT), "--queue", "search"
    )
    assert called.returncode == 0, called.stderr
    assert called.stdout.strip() in queued_ids("search")


# --- celery inspect and the ledger (item 4) -----------------------------------------------------


@pytest.mark.worker
def test_inspect_ledger_scheduled_lists_the_jobs_inspect_scheduled_cannot_see(celery_worker):
    host = celery_worker.hostname
    later = [
        RecordJob.apply_async(["in-an-hour", {"token": "s3cret"}], countdown=3600),
        RecordJob.apply_async(["in-a-minute"], countdown=60),
        RecordJob.apply_async(["in-a-day"], countdown=86400, queue="reports", priority=5),
    ]
    soonest_first = [later[1].id, later[0].id, later[2].id]

    status = celery("status")
    assert status.returncode == 0 and host in status.stdout  # the CLI keeps working
    assert inspect(host, "scheduled") == []  # the jobs wait in PostgreSQL, not in a worker

    reply = inspect(host, "ledger_scheduled")
    assert reply["total"] == 3
    assert [entry["request"]["id"] for entry in reply["scheduled"]] == soonest_first
    first, second, last = reply["scheduled"]
    assert first["request"] == {
        "id": later[1].id,
        "name": "RecordJob",
        "args": ["in-a-minute"],
        "kwargs": {},
        "queue": "default",
        "attempts": 0,
    }
    assert first["eta"] == Job.objects.get(pk=later[1].id).scheduled_at.isoformat()
    assert second["request"]["args"] == ["in-an-hour", {"token": "••••••"}]
    assert (last["priority"], last["request"]["queue"]) == (5, "reports")

    bounded = inspect(host, "ledger_scheduled", "2")
    assert bounded["total"] == 3
    assert [entry["request"]["id"] for entry in bounded["scheduled"]] == soonest_first[:2]
    assert "limit must be from 1 to 1000" in inspect(host, "ledger_scheduled", "0")["error"]


@pytest.mark.worker
def test_inspect_active_and_reserved_agree_with_the_ledger_while_jobs_run(processes):
    worker = processes.worker(concurrency=2)
    held = [HeldJob.delay("held", 120) for _ in range(4)]
    wait_for(lambda: sample_jobs.starts("held") == 2, message="two jobs running")

    def reserved() -> list:
        return inspect(worker.hostname, "reserved")

    wait_for(lambda: len(reserved()) == 2, timeout=60, message="two jobs reserved")
    active_ids = {request["id"] for request in inspect(worker.hostname, "active")}
    reserved_ids = {request["id"] for request in reserved()}

    claimed = {str(pk) for pk in Job.objects.claimed().values_list("pk", flat=True)}
    assert len(active_ids) == 2 and active_ids == claimed
    assert (
        reserved_ids
        == {str(pk) for pk in Job.objects.ready().values_list("pk", flat=True)}
        == {job.id for job in held} - claimed
    )

    sample_jobs.allow("held")
    for job in held:
        wait_for_state(job.id, State.FINISHED)
