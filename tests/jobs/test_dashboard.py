"""The jobs dashboard in admin: every page renders, filters, masks secrets, acts.

Who may do what is in test_dashboard_permissions.py; here an admin (superuser) drives it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from jobs.models import Job, QueuePause, State
from tests.jobs.sample_jobs import GatedJob, RecordJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, admin):
    client.force_login(admin)
    return client


def failed(job_id, error="ValueError", message="boom"):
    Job.objects.filter(pk=job_id).update(
        state=State.FAILED,
        error_class=error,
        error_message=message,
        attempts=1,
        finished_at=timezone.now(),
        error_traceback="Traceback …\nValueError: boom",
    )


URLS = [
    ("admin:jobs_dashboard", {}),
    ("admin:jobs_dashboard_triage", {}),
    ("admin:jobs_dashboard_workers", {}),
    ("admin:jobs_dashboard_recurring", {}),
    ("admin:jobs_dashboard_queue_stats", {"queue": "default"}),
    *[
        ("admin:jobs_dashboard_list", {"state": s})
        for s in ("failed", "claimed", "blocked", "scheduled", "ready", "finished", "discarded")
    ],
]


@pytest.mark.parametrize(("name", "kwargs"), URLS)
def test_every_page_renders_for_an_admin_and_sends_members_to_log_in(
    client, user, admin, name, kwargs
):
    url = reverse(name, kwargs=kwargs)
    assert client.get(url).status_code == 302  # anonymous → admin login
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(admin)
    assert client.get(url).status_code == 200


def test_the_overview_counts_states_and_shows_queues(staff_client):
    for i in range(3):
        RecordJob.delay(f"o{i}")
    failed(GatedJob.delay("o-f", 1).id)
    QueuePause.objects.create(queue="reports")
    page = staff_client.get(reverse("admin:jobs_dashboard")).content.decode()
    assert 'data-state="ready">Ready<b>3</b>' in page
    assert 'data-state="failed">Failed<b>1</b>' in page
    assert "<strong>paused</strong>" in page and ">Resume</button>" in page


def test_lists_filter_by_class_and_mask_secret_arguments(staff_client):
    RecordJob.delay("plain", {"password": "hunter2", "api_token": "t0k", "name": "Ada"})
    GatedJob.delay("other", 1)
    url = reverse("admin:jobs_dashboard_list", kwargs={"state": "ready"})
    page = staff_client.get(url, {"class": "RecordJob"}).content.decode()
    assert "RecordJob" in page and "GatedJob" not in page
    assert "hunter2" not in page and "t0k" not in page and "Ada" in page
    detail = Job.objects.get(class_name="RecordJob")
    job_page = staff_client.get(reverse("admin:jobs_dashboard_job", args=[detail.id])).content
    assert b"hunter2" not in job_page and "••••••".encode() in job_page


def test_retry_and_discard_one_and_all_matching_a_filter(staff_client):
    a, b = (GatedJob.delay(f"r{i}", 1).id for i in range(2))
    c = RecordJob.delay("r-other").id
    for job_id in (a, b, c):
        failed(job_id)
    one = reverse("admin:jobs_dashboard_job_action", args=[a, "retry"])
    assert staff_client.post(one).status_code == 302
    assert Job.objects.get(pk=a).state == State.SCHEDULED

    bulk = reverse("admin:jobs_dashboard_bulk", kwargs={"state": "failed", "action": "discard"})
    staff_client.post(bulk, {"class": "GatedJob"})
    assert Job.objects.get(pk=b).state == State.DISCARDED
    assert Job.objects.get(pk=c).state == State.FAILED  # another class: not matched


def test_run_now_makes_a_scheduled_job_due(staff_client):
    job_id = RecordJob.apply_async(["later"], countdown=3600).id
    staff_client.post(reverse("admin:jobs_dashboard_job_action", args=[job_id, "run_now"]))
    assert Job.objects.get(pk=job_id).scheduled_at <= timezone.now()


def test_pause_and_resume_from_the_dashboard(staff_client):
    pause = reverse("admin:jobs_dashboard_queue", args=["search", "pause"])
    staff_client.post(pause)
    assert QueuePause.objects.filter(queue="search").exists()
    staff_client.post(reverse("admin:jobs_dashboard_queue", args=["search", "resume"]))
    assert not QueuePause.objects.exists()
    assert staff_client.get(pause).status_code == 405  # actions are POST only


def test_triage_groups_failures_by_class_and_error_within_the_window(staff_client):
    for i in range(3):
        failed(GatedJob.delay(f"t{i}", 1).id, "SMTPException", "mail server said no")
    old = GatedJob.delay("t-old", 1).id
    failed(old, "KeyError", "old")
    Job.objects.filter(pk=old).update(finished_at=timezone.now() - timedelta(days=2))
    page = staff_client.get(reverse("admin:jobs_dashboard_triage"), {"window": "24h"})
    text = page.content.decode()
    assert "SMTPException" in text and "mail server said no" in text and "KeyError" not in text
    assert [(g["error_class"], g["count"]) for g in page.context["groups"]] == [
        ("SMTPException", 3)
    ]


def test_recurring_run_now_enqueues_the_periodic_job_through_the_ledger(staff_client):
    schedule = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    task = PeriodicTask.objects.create(
        name="nightly record", task="RecordJob", args='["nightly"]', interval=schedule
    )
    page = staff_client.get(reverse("admin:jobs_dashboard_recurring")).content.decode()
    assert "nightly record" in page
    staff_client.post(reverse("admin:jobs_dashboard_periodic_run", args=[task.pk]))
    assert Job.objects.get(class_name="RecordJob").args == ["nightly"]


def test_an_unknown_tab_or_job_is_a_404(staff_client):
    assert staff_client.get("/admin/jobs/job/dashboard/nonsense/").status_code == 404
    assert staff_client.get("/admin/jobs/job/dashboard/job/not-a-uuid/").status_code == 404


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:alert(1)"],
)
def test_an_action_returns_to_a_page_of_this_site_only(staff_client, target):
    job_id = RecordJob.apply_async(["later"], countdown=3600).id
    url = reverse("admin:jobs_dashboard_job_action", args=[job_id, "run_now"])
    response = staff_client.post(url, {"next": target})
    assert response["Location"] == reverse("admin:jobs_dashboard_job", args=[job_id])
    back = reverse("admin:jobs_dashboard_list", args=["scheduled"])
    assert staff_client.post(url, {"next": back})["Location"] == back
