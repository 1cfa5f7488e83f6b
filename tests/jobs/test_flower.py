"""Flower says what the ledger says: a job the ledger schedules for a retry is RETRY in
Flower, a discarded one REVOKED, a failed one FAILURE, a finished one SUCCESS.

A real Flower, started as operators start it (`celery -A config flower` in the project
directory), turns task events on in a real worker; the test reads Flower's HTTP API.
"""

import base64
import http.client
import json
import secrets
import time

import pytest
from django_celery_results.models import TaskResult

from devtools.embedded import free_port, wait_for_port
from jobs.models import Job, State
from tests.jobs.sample_jobs import FlakyJob, GatedJob, RecordJob, UserNameJob

CREDENTIALS = f"ops:{secrets.token_urlsafe(18)}"
AUTH = {"Authorization": "Basic " + base64.b64encode(CREDENTIALS.encode()).decode()}
DEADLINE = 90  # seconds; a slow machine starts Flower and a worker in well under this


@pytest.fixture
def flower(processes) -> int:
    """Flower's port; started before the worker, whose task events it then turns on."""
    port = free_port()
    proc = processes.start(
        ["-m", "celery", "-A", "config", "flower", "--address=127.0.0.1", f"--port={port}"],
        env={"FLOWER_BASIC_AUTH": CREDENTIALS},
    )
    wait_for_port(port, proc, timeout=DEADLINE)
    return port


def task_info(port: int, task_id: str) -> dict | None:
    """Flower's /api/task/info for a task, or None while Flower has seen no event of it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/api/task/info/{task_id}", headers=AUTH)
    response = conn.getresponse()
    body = response.read()
    if response.status == 404:
        return None
    assert response.status == 200, body[:500]
    return json.loads(body)


def wait_until_flower_sees_task_events(port: int) -> None:
    """Flower turns events on every few seconds: send probes until one shows up finished."""
    deadline = time.monotonic() + DEADLINE
    probe = 0
    while time.monotonic() < deadline:
        task_id = str(RecordJob.delay(f"flower-probe-{probe}").id)
        probe += 1
        until = min(deadline, time.monotonic() + 5)
        while time.monotonic() < until:
            if (task_info(port, task_id) or {}).get("state") == "SUCCESS":
                return
            time.sleep(0.2)
    raise AssertionError(f"Flower saw no task of the worker's within {DEADLINE} s")


def states_once_settled(port: int, expected: dict[str, tuple[str, str]]) -> dict:
    """{job id: (Flower's state, the ledger's state)}, polled until it equals `expected` or
    the deadline passes."""
    deadline = time.monotonic() + DEADLINE
    while True:
        seen = {
            job_id: (
                (task_info(port, job_id) or {}).get("state"),
                Job.objects.get(pk=job_id).state,
            )
            for job_id in expected
        }
        if seen == expected or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def test_flower_shows_retried_discarded_failed_and_finished_jobs_as_the_ledger_does(
    processes, flower
):
    worker = processes.worker()
    wait_until_flower_sees_task_events(flower)

    # No dispatcher runs here: the retry stays scheduled, so Flower's RETRY stays too.
    retried = str(FlakyJob.delay("flower-retry", 100).id)
    discarded = str(UserNameJob.delay(987_654_321).id)  # no such user: discard_on
    failed = str(GatedJob.delay("flower-fail", 1).id)  # ValueError, one attempt
    finished = str(RecordJob.delay("flower-ok").id)
    expected = {
        retried: ("RETRY", State.SCHEDULED),
        discarded: ("REVOKED", State.DISCARDED),
        failed: ("FAILURE", State.FAILED),
        finished: ("SUCCESS", State.FINISHED),
    }
    assert states_once_settled(flower, expected) == expected

    # Flower shows why, as the job page does.
    assert "SMTP server unreachable" in task_info(flower, retried)["exception"]
    reason = task_info(flower, discarded)["exception"]
    assert "DoesNotExist: User matching query does not exist" in reason
    assert "not allowed yet" in task_info(flower, failed)["exception"]

    # One TaskResult per job, the ledger's: Celery wrote none of its own over it.
    results = {r.task_id: r.status for r in TaskResult.objects.filter(task_id__in=expected)}
    assert results == {
        retried: "RETRY",
        discarded: "REJECTED",
        failed: "FAILURE",
        finished: "SUCCESS",
    }

    # A retry and a discard are ordinary: no ERROR line in the worker's log (a failure is).
    log = worker.log_path.read_text().splitlines()

    def levels(job_id: str) -> set[str]:
        return {
            level
            for line in log
            if job_id in line
            for level in ("ERROR", "CRITICAL")
            if level in line
        }

    assert levels(retried) == set() and levels(discarded) == set()
    assert levels(failed) == {"ERROR"}
