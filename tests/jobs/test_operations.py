"""Operators' actions are recorded: each dashboard and admin retry, discard, run-now, pause,
resume and periodic run-now writes admin's LogEntry (who, what, when), shown in the object's
history in admin; what changed nothing records nothing."""

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from jobs.models import Job, State
from jobs.ops import operations
from tests.forum.factories import UserFactory
from tests.jobs.sample_jobs import GatedJob, RecordJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(client, admin):
    client.force_login(admin)
    return client


def failed(*job_ids) -> None:
    Job.objects.filter(pk__in=job_ids).update(
        state=State.FAILED,
        error_class="ValueError",
        error_message="boom",
        attempts=1,
        finished_at=timezone.now(),
    )


def entries() -> list[tuple]:
    return list(
        LogEntry.objects.order_by("pk").values_list(
            "user__username", "content_type__model", "object_id", "action_flag", "change_message"
        )
    )


def history(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_retry_discard_and_run_now_in_the_dashboard_show_in_each_jobs_admin_history(ops, admin):
    retried, discarded = GatedJob.delay("a", 1).id, GatedJob.delay("b", 1).id
    failed(retried)
    later = RecordJob.apply_async(["later"], countdown=3600).id
    for job_id, action in ((retried, "retry"), (discarded, "discard"), (later, "run_now")):
        ops.post(reverse("admin:jobs_dashboard_job_action", args=[job_id, action]))
    who = admin.username
    assert entries() == [
        (who, "job", str(retried), CHANGE, "Retried in the jobs dashboard."),
        (who, "job", str(discarded), CHANGE, "Discarded in the jobs dashboard."),
        (who, "job", str(later), CHANGE, "Made due now in the jobs dashboard."),
    ]
    page = history(ops, reverse("admin:jobs_job_history", args=[retried]))
    assert "Retried in the jobs dashboard." in page and who in page
    assert "Discarded" in history(ops, reverse("admin:jobs_job_history", args=[discarded]))


def test_a_bulk_action_records_each_job_it_changed_and_no_other(ops, admin):
    gated = [GatedJob.delay(f"g{i}", 1).id for i in range(3)]
    other = RecordJob.delay("other").id
    failed(*gated, other)
    finished = GatedJob.delay("done", 1).id
    Job.objects.filter(pk=finished).update(state=State.FINISHED, finished_at=timezone.now())
    bulk = reverse("admin:jobs_dashboard_bulk", args=["failed", "retry"])
    ops.post(bulk, {"class": "GatedJob"})
    logged = {(object_id, message) for _, _, object_id, _, message in entries()}
    message = "Retried in the jobs dashboard (all failed jobs matching class=GatedJob)."
    assert logged == {(str(job_id), message) for job_id in gated}


def test_a_bulk_action_bigger_than_a_batch_records_every_job(admin):
    jobs = [GatedJob.delay(f"many{i}", 1).id for i in range(operations.BATCH + 5)]
    failed(*jobs)
    count = operations.discard(jobs=Job.objects.all(), user=admin, how="in a test")
    assert count == len(jobs) == LogEntry.objects.filter(action_flag=CHANGE).count()
    assert set(LogEntry.objects.values_list("object_id", flat=True)) == {str(j) for j in jobs}
    assert Job.objects.filter(state=State.DISCARDED).count() == len(jobs)


def test_pause_and_resume_are_recorded_in_the_queues_admin_history(ops, admin):
    def queue(action):
        ops.post(reverse("admin:jobs_dashboard_queue", args=["search", action]))

    queue("pause")
    queue("resume")
    queue("pause")
    assert [(flag, message) for *_, flag, message in entries()] == [
        (ADDITION, "Paused in the jobs dashboard."),
        (DELETION, "Resumed in the jobs dashboard."),
        (ADDITION, "Paused in the jobs dashboard."),
    ]
    page = history(ops, reverse("admin:jobs_queuepause_history", args=["search"]))
    assert page.count("Paused in the jobs dashboard.") == 2 and "Resumed" in page
    overview = history(ops, reverse("admin:jobs_dashboard"))
    assert f"<strong>paused</strong> by {admin.username}, " in overview


def test_running_a_periodic_task_now_is_recorded_in_its_admin_history(ops, admin):
    task = PeriodicTask.objects.create(
        name="nightly",
        task="RecordJob",
        args='["nightly"]',
        interval=IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS),
    )
    ops.post(reverse("admin:jobs_dashboard_periodic_run", args=[task.pk]))
    job = Job.objects.get(class_name="RecordJob")
    assert entries() == [
        (
            admin.username,
            "periodictask",
            str(task.pk),
            CHANGE,
            f"Run now in the jobs dashboard: job {job.pk}.",
        ),
    ]
    page = history(ops, reverse("admin:django_celery_beat_periodictask_history", args=[task.pk]))
    assert f"job {job.pk}" in page


def test_the_job_admins_actions_are_recorded_too(ops, admin):
    retried, discarded = GatedJob.delay("a", 1).id, GatedJob.delay("b", 1).id
    failed(retried, discarded)
    ops.post("/admin/jobs/job/", {"action": "retry_jobs", "_selected_action": [retried]})
    ops.post("/admin/jobs/job/", {"action": "discard_jobs", "_selected_action": [discarded]})
    assert [(object_id, message) for _, _, object_id, _, message in entries()] == [
        (str(retried), "Retried in admin."),
        (str(discarded), "Discarded in admin."),
    ]


def test_actions_that_change_nothing_or_are_refused_record_nothing(client, ops):
    finished = GatedJob.delay("done", 1).id
    Job.objects.filter(pk=finished).update(state=State.FINISHED, finished_at=timezone.now())
    ops.post(reverse("admin:jobs_dashboard_job_action", args=[finished, "retry"]))
    ops.post(reverse("admin:jobs_dashboard_job_action", args=[finished, "discard"]))
    ops.post(reverse("admin:jobs_dashboard_queue", args=["search", "resume"]))  # not paused
    ops.post(reverse("admin:jobs_dashboard_queue", args=["nowhere", "pause"]))  # no such queue
    ops.post(reverse("admin:jobs_dashboard_bulk", args=["failed", "retry"]))  # none failed
    client.force_login(UserFactory(is_staff=True, permissions=["jobs.view_job"]))
    client.post(reverse("admin:jobs_dashboard_queue", args=["search", "pause"]))
    assert entries() == []
