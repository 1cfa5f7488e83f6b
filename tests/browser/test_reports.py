import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.forum.factories import PostFactory, UserFactory
from tests.reports.conftest import lagos

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_requested_report_shows_live_progress_then_itself_without_a_reload(
    page, processes, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    member = UserFactory(username="ngozi")
    PostFactory(author=member, created_at=lagos(10, 9))
    PostFactory(author=member, created_at=lagos(11, 9))
    page.goto("/accounts/login/")
    page.fill("#id_username", "ngozi")
    page.fill("#id_password", PASSWORD)
    page.click("button:text('Log in')")

    page.click("header >> text=Reports")
    page.click("text=Request a report")
    page.select_option("#id_report_type", "user_activity")
    page.fill("#id_start_date", "2026-11-10")
    page.fill("#id_end_date", "2026-11-11")
    page.click("button:text('Request')")
    # No worker yet: the report waits, and the page says so.
    expect(page.locator(".report-status")).to_have_text("Queued")
    expect(page.locator(".report-pending progress")).to_have_attribute("value", "0")
    page.evaluate("window.stillTheSamePage = true")

    processes.worker(queues="reports", env={"MEDIA_ROOT": str(settings.MEDIA_ROOT)})

    expect(page.locator(".totals")).to_contain_text("Posts2", timeout=60_000)
    assert page.evaluate("window.stillTheSamePage") is True  # updated in place, not reloaded
    expect(page.locator("img.chart")).to_have_js_property("naturalWidth", 760)  # SVG loaded
    expect(page.locator(".report-table")).to_contain_text("ngozi")
    with page.expect_download() as download:
        page.click("text=Download CSV")
    assert download.value.suggested_filename.endswith(".csv")

    page.click("header >> text=Reports")
    expect(page.locator("tr[data-status='ready'] .report-status")).to_have_text("Ready")
