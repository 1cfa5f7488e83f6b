"""Every run of a job is kept (jobs.JobAttempt), whatever ended it: an outcome, a recovered
orphan, a terminate. An operator's retry starts the attempts again and wipes none of them; the
job page, triage and `jobs show` read them; prune and delete take them with their job."""

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from jobs.base import publish
from jobs.ledger import recovery, writes
from jobs.models import Job, JobAttempt, State
from tests.forum.factories import UserFactory
from tests.jobs.helpers import claim_run, end, promote, wait_for_state
from tests.jobs.sample_jobs import FlakyJob, RecordJob

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


TRACEBACK = 'Traceback (most recent call last):\n  File "mail.py", line 3\nConnectionError: {}'


# --- The ledger keeps every run -------------------------------------------------------------------


def test_a_job_retried_twice_then_finished_has_three_runs_with_their_errors():
    job_id = RecordJob.delay("flaky").id
    before = timezone.now()
    for n in (1, 2):
        attempt = claim_run(job_id)
        end(job_id, attempt, State.SCHEDULED, error=smtp_error(n))
        promote()
    end(job_id, claim_run(job_id), State.FINISHED)
    runs = list(Job.objects.get(pk=job_id).runs.order_by("attempt"))
    assert [(r.attempt, r.outcome) for r in runs] == [
        (1, "retried"),
        (2, "retried"),
        (3, "finished"),
    ]
    assert [(r.error_class, r.error_message) for r in runs] == [
        ("ConnectionError", "SMTP down (run 1)"),
        ("ConnectionError", "SMTP down (run 2)"),
        ("", ""),
    ]
    assert "ConnectionError: SMTP down (run 2)" in runs[1].error_traceback
    assert {(r.worker, r.class_name, r.queue) for r in runs} == {("test", "RecordJob", "default")}
    assert before <= runs[0].started_at <= runs[0].finished_at <= runs[1].started_at
    assert runs[1].finished_at <= runs[2].started_at <= runs[2].finished_at <= timezone.now()


def test_a_run_that_fails_its_last_attempt_is_kept_as_failed():
    job_id = RecordJob.delay("doomed").id
    end(job_id, claim_run(job_id), State.FAILED, error=smtp_error(1))
    (run,) = Job.objects.get(pk=job_id).runs.all()
    assert (run.outcome, run.error_class, run.error_message) == (
        "failed",
        "ConnectionError",
        "SMTP down (run 1)",
    )


def test_an_orphan_recovered_by_the_dispatcher_leaves_a_lost_run():
    job_id = RecordJob.delay("orphan").id
    claim_run(job_id)  # by no live process: taken for dead at once
    with transaction.atomic():
        ready, _failed = recovery.recover_orphans()
        publish(ready)
    assert str(job_id) in {str(job.id) for job in ready}
    (run,) = Job.objects.get(pk=job_id).runs.all()
    assert (run.attempt, run.outcome, run.error_class, run.worker) == (
        1,
        "lost",
        "WorkerLostError",
        "test",
    )
    assert "worker process died while running it" in run.error_message


def test_a_terminated_run_is_kept_as_discarded():
    job_id = RecordJob.delay("terminated").id
    claim_run(job_id)
    assert writes.discard_revoked([job_id], reason="terminated", terminated_on="test") == [job_id]
    (run,) = Job.objects.get(pk=job_id).runs.all()
    assert (run.outcome, run.error_class, run.error_message) == (
        "discarded",
        "Discarded",
        "terminated",
    )


def test_an_operator_retry_keeps_the_earlier_runs_and_the_next_run_is_added():
    one, other = (failed_twice(key) for key in ("one", "other"))
    assert Job.objects.get(pk=one).retry()
    assert Job.objects.failed().retry() == 1  # the other one
    for job_id in (one, other):
        job = Job.objects.get(pk=job_id)
        assert (job.state, job.attempts, job.error_class) == (State.SCHEDULED, 0, "")
        assert job.runs.count() == 2
    promote()
    end(one, claim_run(one), State.FINISHED)
    runs = list(Job.objects.get(pk=one).runs.order_by("finished_at"))
    assert [(r.attempt, r.outcome) for r in runs] == [
        (1, "retried"),
        (2, "failed"),
        (1, "finished"),
    ]


@pytest.mark.worker
def test_a_real_worker_keeps_each_retried_run_with_its_worker_and_traceback(processes):
    worker = processes.worker()
    processes.dispatcher()
    key = uuid.uuid4().hex
    job = wait_for_state(FlakyJob.delay(key, 2).id, State.FINISHED, State.FAILED)
    runs = list(job.runs.order_by("attempt"))
    assert [(r.attempt, r.outcome, r.error_class) for r in runs] == [
        (1, "retried", "ConnectionError"),
        (2, "retried", "ConnectionError"),
        (3, "finished", ""),
    ]
    assert runs[0].error_message == "SMTP server unreachable (run 1)"
    assert "raise ConnectionError" in runs[1].error_traceback
    assert {r.worker for r in runs} == {worker.hostname}
    assert all(r.process_id for r in runs)
    assert runs[0].finished_at <= runs[1].started_at and runs[2].waited >= 0


# --- Prune and delete take the runs with their job ------------------------------------------------


def test_prune_removes_the_runs_of_pruned_jobs_and_leaves_the_others():
    old, recent, failed = (finished_once(key) for key in ("old", "recent", "failed"))
    Job.objects.filter(pk=old).update(finished_at=timezone.now() - timedelta(days=8))
    Job.objects.filter(pk=failed).update(
        state=State.FAILED, finished_at=timezone.now() - timedelta(days=30)
    )
    call_command("jobs", "prune", "--older-than", "7d", stdout=StringIO())
    assert not Job.objects.filter(pk=old).exists()
    assert set(JobAttempt.objects.values_list("job_id", flat=True)) == {
        uuid.UUID(recent),
        uuid.UUID(failed),
    }


def test_deleting_a_job_deletes_its_runs(admin_client):
    gone, kept = finished_once("gone"), finished_once("kept")
    # Admin offers no delete (jobs end by discard or prune, which keep the counters true)…
    delete = reverse("admin:jobs_job_delete", args=[gone])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    # …and the ORM's delete, which admin's would use, takes the runs with the job.
    Job.objects.filter(pk=gone).delete()
    assert list(JobAttempt.objects.values_list("job_id", flat=True)) == [uuid.UUID(kept)]


# --- The job page, triage and `jobs show` ---------------------------------------------------------


def test_the_job_page_lists_every_run_newest_first_after_an_operator_retry(admin_client):
    job_id = failed_twice("page", message="<b>SMTP</b> down")
    Job.objects.get(pk=job_id).retry()
    promote()
    claim_run(job_id)  # running now
    page = admin_client.get(reverse("admin:jobs_dashboard_job", args=[job_id]))
    text = page.content.decode()
    assert "1 of 5 (3 runs in all" in text
    table = text[text.index('<table id="attempts" data-live>') :]
    outcomes = [line.split('data-outcome="')[1].split('"')[0] for line in table.split("<tr ")[1:]]
    assert outcomes == ["running", "failed", "retried"]
    assert '<tr data-run="3" data-outcome="running">' in table
    assert "<summary>Traceback</summary>" in table
    assert "&lt;b&gt;SMTP&lt;/b&gt; down" in table and "<b>SMTP</b>" not in table
    assert [row.number for row in page.context["attempts"].rows] == [3, 2, 1]


def test_the_job_page_shows_the_newest_100_runs_and_says_how_many_there_are(admin_client):
    job_id = finished_once("many")
    job = Job.objects.get(pk=job_id)
    start = timezone.now() - timedelta(hours=1)
    JobAttempt.objects.bulk_create(
        JobAttempt(
            job=job,
            attempt=1,
            class_name=job.class_name,
            queue=job.queue,
            started_at=start + timedelta(seconds=n),
            finished_at=start + timedelta(seconds=n, milliseconds=500),
            outcome="lost",
            error_class="WorkerLostError",
        )
        for n in range(104)
    )
    page = admin_client.get(reverse("admin:jobs_dashboard_job", args=[job_id]))
    assert "100 of 105 shown" in page.content.decode()
    assert [row.number for row in page.context["attempts"].rows][:2] == [105, 104]
    assert len(page.context["attempts"].rows) == 100


def test_a_moderator_without_permissions_gets_403_on_a_job_page_a_reader_sees_its_runs(client):
    job_id = failed_twice("secret")
    url = reverse("admin:jobs_dashboard_job", args=[job_id])
    client.force_login(UserFactory(is_staff=True))
    assert client.get(url).status_code == 403
    client.force_login(UserFactory(is_staff=True, permissions=["jobs.view_job"]))
    page = client.get(url).content.decode()
    assert 'id="attempts"' in page and "SMTP down (run 1)" in page


def test_triage_counts_the_errors_of_runs_and_the_jobs_failed_now(admin_client):
    recovered = RecordJob.delay("recovered").id
    for n in range(1, 5):
        end(recovered, claim_run(recovered), State.SCHEDULED, error=smtp_error(n))
        promote()
    end(recovered, claim_run(recovered), State.FINISHED)
    failed_twice("failing")  # one more ConnectionError retried, then one failed
    old = failed_twice("old")
    Job.objects.filter(pk=old).update(finished_at=timezone.now() - timedelta(days=2))
    JobAttempt.objects.filter(job_id=old).update(finished_at=timezone.now() - timedelta(days=2))
    page = admin_client.get(reverse("admin:jobs_dashboard_triage"), {"window": "24h"})
    groups = [
        (g["class_name"], g["error_class"], g["runs"], g["failed_now"], g["sample"])
        for g in page.context["groups"]
    ]
    assert groups == [("RecordJob", "ConnectionError", 6, 1, "SMTP down (run 2)")]
    text = page.content.decode()
    assert "Errors (runs)" in text and "Jobs failed now" in text
    assert "/admin/jobs/job/dashboard/failed/?class=RecordJob&amp;since=24h" in text
    week = admin_client.get(reverse("admin:jobs_dashboard_triage"), {"window": "7d"})
    assert [(g["runs"], g["failed_now"]) for g in week.context["groups"]] == [(8, 2)]


def test_jobs_show_prints_every_run():
    job_id = failed_twice("shown")
    out = StringIO()
    call_command("jobs", "show", job_id, stdout=out)
    text = out.getvalue()
    assert "runs (2 in all, newest first):" in text
    lines = [line for line in text.splitlines() if line.startswith("  #")]
    assert len(lines) == 2
    assert "attempt 2" in lines[0] and "failed after" in lines[0]
    assert "ConnectionError: SMTP down (run 1)" in lines[1] and "retried after" in lines[1]


# --- helpers --------------------------------------------------------------------------------------


def smtp_error(n: int, message: str = "SMTP down") -> tuple[str, str, str]:
    text = f"{message} (run {n})"
    return "ConnectionError", text, TRACEBACK.format(text)


def failed_twice(key: str, *, message: str = "SMTP down") -> str:
    """A job whose first run was retried and whose second failed."""
    job_id = RecordJob.delay(key).id
    end(job_id, claim_run(job_id), State.SCHEDULED, error=smtp_error(1, message))
    promote()
    end(job_id, claim_run(job_id), State.FAILED, error=smtp_error(2, message))
    return job_id


def finished_once(key: str) -> str:
    job_id = RecordJob.delay(key).id
    end(job_id, claim_run(job_id), State.FINISHED)
    return job_id
