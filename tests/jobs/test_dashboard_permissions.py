"""Who may read and operate the jobs dashboard: each page and action asks the permission its
model's admin asks, whatever is_staff says; buttons a user may not use are not shown."""

import pytest
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from jobs.models import Job, QueuePause, State
from tests.forum.factories import UserFactory
from tests.jobs.sample_jobs import GatedJob, RecordJob

pytestmark = pytest.mark.django_db

READ = ["jobs.view_job"]
ROLES = {
    "moderator": [],  # is_staff, no permission
    "reader": READ,
    "operator": [*READ, "jobs.change_job"],
    "queue_operator": [*READ, "jobs.add_queuepause", "jobs.delete_queuepause"],
    "beat_operator": [
        *READ,
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
    ],
    "admin": None,  # superuser
}
PAGE = (403, 200, 200, 200, 200, 200)
OPERATE = (403, 403, 302, 403, 403, 302)
QUEUE = (403, 403, 403, 302, 403, 302)

#  method, url name, its arguments (from the world), statuses for the ROLES in order
MATRIX = [
    ("GET", "jobs_dashboard", [], PAGE),
    ("GET", "jobs_dashboard_triage", [], PAGE),
    *[
        ("GET", "jobs_dashboard_list", [state], PAGE)
        for state in ("failed", "claimed", "blocked", "scheduled", "ready", "finished", "discarded")
    ],
    ("GET", "jobs_dashboard_job", ["failed_job"], PAGE),
    ("GET", "jobs_dashboard_queue_stats", ["default"], PAGE),
    ("GET", "jobs_dashboard_workers", [], (403, 403, 403, 403, 403, 200)),
    ("GET", "jobs_dashboard_recurring", [], (403, 403, 403, 403, 200, 200)),
    ("POST", "jobs_dashboard_job_action", ["failed_job", "retry"], OPERATE),
    ("POST", "jobs_dashboard_job_action", ["scheduled_job", "discard"], OPERATE),
    ("POST", "jobs_dashboard_job_action", ["scheduled_job", "run_now"], OPERATE),
    ("POST", "jobs_dashboard_bulk", ["failed", "retry"], OPERATE),
    ("POST", "jobs_dashboard_bulk", ["failed", "discard"], OPERATE),
    ("POST", "jobs_dashboard_bulk", ["scheduled", "run_now"], OPERATE),
    ("POST", "jobs_dashboard_queue", ["search", "pause"], QUEUE),
    ("POST", "jobs_dashboard_queue", ["reports", "resume"], QUEUE),
    ("POST", "jobs_dashboard_periodic_run", ["periodic"], (403, 403, 403, 403, 302, 302)),
]
CASES = [
    pytest.param(method, name, args, role, expected[i], id=f"{method} {name} {args} {role}")
    for method, name, args, expected in MATRIX
    for i, role in enumerate(ROLES)
]


def make_user(role: str):
    if ROLES[role] is None:
        return UserFactory(is_staff=True, is_superuser=True)
    return UserFactory(is_staff=True, permissions=ROLES[role])


@pytest.fixture
def world() -> dict:
    failed = GatedJob.delay("failed", 1).id
    Job.objects.filter(pk=failed).update(
        state=State.FAILED,
        error_class="ValueError",
        error_message="boom",
        attempts=1,
        finished_at=timezone.now(),
    )
    scheduled = RecordJob.apply_async(["later"], countdown=3600).id
    QueuePause.objects.create(queue="reports")
    periodic = PeriodicTask.objects.create(
        name="nightly",
        task="RecordJob",
        args='["nightly"]',
        interval=IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS),
    )
    return {"failed_job": str(failed), "scheduled_job": str(scheduled), "periodic": periodic.pk}


def snapshot() -> tuple:
    """What any action would change: every job's state and due time, and the pauses."""
    jobs = sorted(Job.objects.values_list("id", "state", "scheduled_at"))
    return jobs, sorted(QueuePause.objects.values_list("queue", flat=True))


@pytest.mark.parametrize(("method", "name", "args", "role", "expected"), CASES)
def test_every_dashboard_page_and_action_asks_the_model_admins_permission(
    client, world, method, name, args, role, expected
):
    url = reverse(f"admin:{name}", args=[world.get(arg, arg) for arg in args])
    client.force_login(make_user(role))
    before = snapshot()
    response = client.post(url) if method == "POST" else client.get(url)
    assert response.status_code == expected, f"{role}: {method} {url}"
    if method == "POST":
        assert (snapshot() != before) == (expected == 302), "refused actions change nothing"


def buttons(client, url: str) -> set[str]:
    page = client.get(url).content.decode()
    names = (
        "Retry",
        "Discard",
        "Run now",
        "Pause",
        "Resume",
        "Retry all matching",
        "Discard all matching",
    )
    return {name for name in names if f">{name}</button>" in page}


def test_a_reader_sees_the_jobs_but_no_button_that_changes_them(client, world):
    client.force_login(make_user("reader"))
    pages = [
        reverse("admin:jobs_dashboard"),
        reverse("admin:jobs_dashboard_list", args=["failed"]),
        reverse("admin:jobs_dashboard_list", args=["scheduled"]),
        reverse("admin:jobs_dashboard_job", args=[world["failed_job"]]),
    ]
    assert all(buttons(client, url) == set() for url in pages)
    overview = client.get(pages[0]).content.decode()
    assert ">Workers<" not in overview and ">Recurring<" not in overview  # tabs they cannot open
    assert "ValueError: boom" in client.get(pages[1]).content.decode()


def test_each_operator_sees_only_the_buttons_their_permission_allows(client, world):
    client.force_login(make_user("operator"))
    assert buttons(client, reverse("admin:jobs_dashboard")) == set()
    assert buttons(client, reverse("admin:jobs_dashboard_list", args=["failed"])) == {
        "Retry",
        "Discard",
        "Retry all matching",
        "Discard all matching",
    }
    client.force_login(UserFactory(is_staff=True, permissions=[*READ, "jobs.add_queuepause"]))
    assert buttons(client, reverse("admin:jobs_dashboard")) == {"Pause"}  # not Resume
    assert buttons(client, reverse("admin:jobs_dashboard_list", args=["failed"])) == set()
    client.force_login(make_user("beat_operator"))
    assert buttons(client, reverse("admin:jobs_dashboard_recurring")) == {"Run now"}


def test_a_jobs_task_result_is_shown_only_with_the_view_permission_on_task_results(client, world):
    url = reverse("admin:jobs_dashboard_job", args=[world["failed_job"]])
    client.force_login(make_user("reader"))
    assert "Task result" not in client.get(url).content.decode()
    results = "django_celery_results.view_taskresult"
    client.force_login(UserFactory(is_staff=True, permissions=[*READ, results]))
    assert "Task result" in client.get(url).content.decode()


def test_the_jobs_admin_list_offers_retry_and_discard_only_with_the_change_permission(
    client, world
):
    client.force_login(make_user("reader"))
    listing = client.get("/admin/jobs/job/")
    assert listing.status_code == 200 and "retry_jobs" not in listing.content.decode()
    before = snapshot()
    client.post(
        "/admin/jobs/job/", {"action": "retry_jobs", "_selected_action": [world["failed_job"]]}
    )
    client.post(
        "/admin/jobs/job/", {"action": "discard_jobs", "_selected_action": [world["scheduled_job"]]}
    )
    assert snapshot() == before
    client.force_login(make_user("operator"))
    assert "retry_jobs" in client.get("/admin/jobs/job/").content.decode()
