"""The jobs dashboard in a real browser: an admin pauses a queue, retries, discards, runs now."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from jobs.models import Job, QueuePause, State
from tests.jobs.sample_jobs import GatedJob, RecordJob

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin_page(browser, live_server, admin):
    admin.set_password("dashboard-pass-123")
    admin.save()
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("dialog", lambda dialog: dialog.accept())  # the confirm() before bulk actions
    page.goto("/admin/login/?next=/admin/jobs/job/dashboard/")
    page.fill("#id_username", admin.username)
    page.fill("#id_password", "dashboard-pass-123")
    page.click("input[type=submit]")
    expect(page.locator("#queues")).to_be_visible()
    yield page
    context.close()


def fail(job_id) -> None:
    Job.objects.filter(pk=job_id).update(
        state=State.FAILED,
        error_class="SMTPException",
        error_message="refused",
        finished_at=timezone.now(),
        attempts=1,
    )


def test_pause_retry_discard_and_run_now_from_the_dashboard(admin_page):
    page = admin_page
    row = page.locator("#queues tr[data-queue='search']")
    row.locator("button:text('Pause')").click()
    expect(page.locator("#queues tr[data-queue='search']")).to_contain_text("paused")
    assert QueuePause.objects.filter(queue="search").exists()
    page.locator("#queues tr[data-queue='search'] button:text('Resume')").click()
    expect(page.locator("#queues tr[data-queue='search']")).to_contain_text("running")

    retried, *bulk = (GatedJob.delay(f"b{i}", 1).id for i in range(3))
    other = RecordJob.delay("keep").id
    for job_id in (retried, *bulk, other):
        fail(job_id)
    page.click(".jobs-tabs >> text=Failed")
    expect(page.locator("#jobs tbody tr")).to_have_count(4)
    page.locator(f"#jobs tr[data-job='{retried}'] button:text('Retry')").click()
    expect(page.locator(".messagelist")).to_contain_text("Re-enqueued 1 job")
    assert Job.objects.get(pk=retried).state == State.SCHEDULED

    page.fill("input[name=class]", "GatedJob")
    page.click("button:text('Filter')")
    expect(page.locator("#jobs tbody tr")).to_have_count(2)
    page.click("button:text('Discard all matching')")
    expect(page.locator(".messagelist")).to_contain_text("Discarded 2 jobs")
    assert Job.objects.filter(pk__in=bulk, state=State.DISCARDED).count() == 2
    assert Job.objects.get(pk=other).state == State.FAILED

    later = RecordJob.apply_async(["later"], countdown=3600).id
    page.click(".jobs-tabs >> text=Scheduled")
    page.locator(f"#jobs tr[data-job='{later}'] button:text('Run now')").click()
    expect(page.locator(".messagelist")).to_contain_text("Made due now 1 job")
    assert Job.objects.get(pk=later).scheduled_at <= timezone.now()

    page.goto(f"/admin/jobs/job/dashboard/job/{other}/")
    expect(page.locator("#job")).to_contain_text("SMTPException: refused")
