"""The jobs dashboard in a real browser: an admin pauses a queue, retries, discards, runs now;
the pages refresh themselves (live) without a reload; the tab bar looks like tabs.

Screenshots go to the test's tmp_path (pytest prints where on failure; --basetemp picks it)."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from jobs.models import Job, QueuePause, State
from tests.jobs.sample_jobs import GatedJob, RecordJob

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


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


# One live refresh round is 5 s; waiting for two covers a round that had just begun.
TWO_ROUNDS_MS = 12_000


def test_the_tab_bar_shows_no_bullets(admin_page):
    tab = admin_page.locator(".jobs-tabs > li").first
    assert tab.evaluate("li => getComputedStyle(li).listStyleType") == "none"


def test_the_overview_refreshes_itself_without_a_reload_and_not_while_paused(admin_page, tmp_path):
    page = admin_page
    ready = page.locator("#states [data-state='ready'] b")
    expect(ready).to_have_text("0")
    expect(page.locator("#jobs-live-state")).to_have_text("Live: on")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    first = RecordJob.delay("live-1").id
    expect(ready).to_have_text("1", timeout=TWO_ROUNDS_MS)
    expect(page.locator("#tab-count-ready")).to_have_text("1")
    expect(page.locator("#queues tr[data-queue='default'] td").nth(1)).to_have_text("1")
    expect(page.locator("#jobs-live-status")).to_have_text(re.compile(r"^updated \d\d:\d\d:\d\d$"))
    assert page.evaluate("window.sameDocument") is True
    page.screenshot(path=tmp_path / "overview-live.png", full_page=True)

    page.click("#jobs-live-toggle")
    expect(page.locator("#jobs-live-state")).to_have_text("Live: paused")
    expect(page.locator("#jobs-live-toggle")).to_have_text("Resume")
    updated = page.locator("#jobs-live-status").text_content()
    RecordJob.delay("live-2")
    page.wait_for_timeout(TWO_ROUNDS_MS)
    expect(ready).to_have_text("1")
    assert page.locator("#jobs-live-status").text_content() == updated
    page.screenshot(path=tmp_path / "overview-paused.png", full_page=True)

    page.reload()  # the pause is remembered; the reload itself shows the second job
    expect(page.locator("#jobs-live-state")).to_have_text("Live: paused")
    expect(ready).to_have_text("2")
    page.click("#jobs-live-toggle")
    expect(page.locator("#jobs-live-state")).to_have_text("Live: on")
    fail(first)
    expect(page.locator("#states [data-state='failed'] b")).to_have_text("1", timeout=TWO_ROUNDS_MS)


def test_a_list_page_refreshes_its_jobs_keeps_its_filter_and_survives_a_sign_out(
    admin_page, tmp_path
):
    page = admin_page
    page.goto("/admin/jobs/job/dashboard/ready/?class=RecordJob")
    expect(page.locator("#jobs tbody")).to_contain_text("No ready jobs match this filter")
    page.evaluate("window.sameDocument = true")

    GatedJob.delay("not-listed", 1)
    listed = RecordJob.delay("listed").id
    expect(page.locator(f"#jobs tr[data-job='{listed}']")).to_be_visible(timeout=TWO_ROUNDS_MS)
    expect(page.locator("#jobs tbody tr")).to_have_count(1)  # still filtered: no GatedJob
    expect(page.locator("form.jobs-filter input[name=class]")).to_have_value("RecordJob")
    assert page.url.endswith("/ready/?class=RecordJob")
    assert page.evaluate("window.sameDocument") is True
    page.screenshot(path=tmp_path / "list-live.png", full_page=True)

    page.context.clear_cookies()  # signed out: admin answers with its login page
    expect(page.locator("#jobs-live-status")).to_contain_text("signed out", timeout=TWO_ROUNDS_MS)
    expect(page.locator(f"#jobs tr[data-job='{listed}']")).to_be_visible()  # kept, no reload
    assert page.evaluate("window.sameDocument") is True
    page.screenshot(path=tmp_path / "list-signed-out.png", full_page=True)


def test_a_hidden_tab_fetches_nothing_and_refreshes_at_once_when_shown_again(admin_page):
    page = admin_page
    live_fetches: list[str] = []
    page.on("request", lambda r: r.headers.get("x-jobs-live") and live_fetches.append(r.url))
    visible = """hidden => {
        Object.defineProperty(document, "hidden", {value: hidden, configurable: true});
        document.dispatchEvent(new Event("visibilitychange"));
    }"""
    page.evaluate(visible, True)
    RecordJob.delay("while-hidden")
    page.wait_for_timeout(7_000)  # more than one refresh interval
    assert live_fetches == []
    ready = page.locator("#states [data-state='ready'] b")
    expect(ready).to_have_text("0")

    page.evaluate(visible, False)
    expect(ready).to_have_text("1", timeout=3_000)  # shown: refreshed without waiting 5 s
    assert len(live_fetches) == 1
