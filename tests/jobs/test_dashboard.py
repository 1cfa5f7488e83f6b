"""The jobs dashboard in admin: every page renders, filters, masks secrets, acts.

Who may do what is in test_dashboard_permissions.py; here an admin (superuser) drives it."""

import re
import time
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult

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


class LiveRegions(HTMLParser):
    """The ids of a page's elements marked `data-live` (None for one without an id)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-live" in attrs:
            self.ids.append(attrs.get("id"))


@pytest.mark.parametrize(("name", "kwargs"), URLS)
def test_every_live_region_has_an_id_of_its_own(staff_client, name, kwargs):
    """The live refresh (base.html) swaps each `data-live` element for the fetched element of
    the same id: one without an id, or sharing it, would never refresh or refresh wrongly."""
    RecordJob.delay("live")
    regions = LiveRegions()
    regions.feed(staff_client.get(reverse(name, kwargs=kwargs)).content.decode())
    assert regions.ids and None not in regions.ids
    assert len(set(regions.ids)) == len(regions.ids)
    if name == "admin:jobs_dashboard":
        overview = {"states", "queues", "jobs-chart-ended", "jobs-run-times-by-class"}
        assert overview <= set(regions.ids)
    if name == "admin:jobs_dashboard_list":
        assert "jobs" in regions.ids


def test_a_live_refresh_leaves_an_actions_message_to_the_page_it_is_for(staff_client):
    job_id = RecordJob.apply_async(["later"], countdown=3600).id
    staff_client.post(reverse("admin:jobs_dashboard_job_action", args=[job_id, "run_now"]))
    overview = reverse("admin:jobs_dashboard")
    live = staff_client.get(overview, headers={"X-Jobs-Live": "1"}).content.decode()
    assert "Made due now 1 job." not in live and 'id="queues" data-live' in live
    assert "Made due now 1 job." in staff_client.get(overview).content.decode()


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


def test_arguments_show_as_json_not_python_repr_on_lists_and_the_job_page(staff_client):
    payload = {"ok": True, "none": None, "quote": 'say "hi"', "secret": "s3", "ọ̀rọ̀": "Ọ̀yọ́"}
    # PostgreSQL's jsonb keeps keys shortest first: the payload is written in that order.
    job_id = RecordJob.delay("json", payload).id
    shown = (
        '["json", {"ok": true, "none": null, "quote": "say \\"hi\\"", "secret": "••••••", '
        '"ọ̀rọ̀": "Ọ̀yọ́"}]'
    )
    url = reverse("admin:jobs_dashboard_list", kwargs={"state": "ready"})
    listing = staff_client.get(url).content.decode()
    assert f"<code>{escape(shown)}</code>" in listing  # autoescaped: &quot; in the HTML
    job_page = staff_client.get(reverse("admin:jobs_dashboard_job", args=[job_id]))
    text = job_page.content.decode()
    assert f"<code>{escape(shown)}</code>" in text and "<code>{}</code>" in text
    assert "True" not in text and "None" not in text and "s3" not in text


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
    # Failed here without running (no kept run): 0 errors of runs, 3 jobs failed now.
    assert [(g["error_class"], g["runs"], g["failed_now"]) for g in page.context["groups"]] == [
        ("SMTPException", 0, 3)
    ]


def test_recurring_run_now_enqueues_the_periodic_job_through_the_ledger(staff_client):
    schedule = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    task = PeriodicTask.objects.create(
        name="nightly record", task="RecordJob", args='["nightly"]', interval=schedule
    )
    page = staff_client.get(reverse("admin:jobs_dashboard_recurring")).content.decode()
    assert "nightly record" in page
    url = reverse("admin:jobs_dashboard_periodic_run", args=[task.pk])
    [message] = staff_client.post(url, follow=True).context["messages"]
    job = Job.objects.get(class_name="RecordJob")
    assert job.args == ["nightly"]
    job_url = reverse("admin:jobs_dashboard_job", args=[job.id])
    assert str(message) == f'Enqueued now as job <a href="{job_url}">{job.id}</a>.'
    assert staff_client.get(job_url).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_run_now_on_celerys_own_cleanup_task_says_it_is_no_ledger_job_and_links_its_result(
    staff_client, celery_worker, settings
):
    """django-celery-beat installs celery.backend_cleanup, Celery's built-in task: no job page
    exists for it, so the message must not promise one."""
    settings.FLOWER_URL = "https://flower.example.com"
    daily = CrontabSchedule.objects.create(minute="0", hour="4")
    task = PeriodicTask.objects.create(
        name="celery.backend_cleanup", task="celery.backend_cleanup", crontab=daily
    )
    url = reverse("admin:jobs_dashboard_periodic_run", args=[task.pk])
    response = staff_client.post(url, follow=True)
    [message] = response.context["messages"]
    text = str(message)
    assert "not a ledger job" in text and "celery.backend_cleanup" in text
    assert not Job.objects.exists() and "/dashboard/job/" not in text
    task_id = re.match(r"Sent as Celery task ([0-9a-f-]{36}) ", text)[1]
    results = reverse("admin:django_celery_results_taskresult_changelist")
    result_link = f"{results}?task_id={task_id}"
    assert f'<a href="{result_link}">its task result</a>' in text
    assert f'<a href="https://flower.example.com/task/{task_id}"' in text
    assert message.message in response.content.decode()  # shown as links, not escaped

    deadline = time.monotonic() + 20
    while not TaskResult.objects.filter(task_id=task_id, status="SUCCESS").exists():
        assert time.monotonic() < deadline, "the worker did not run celery.backend_cleanup"
        time.sleep(0.1)
    shown = staff_client.get(result_link)
    assert shown.status_code == 200 and task_id in shown.content.decode()
    assert [r.task_id for r in shown.context["cl"].result_list] == [task_id]  # only that one


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
