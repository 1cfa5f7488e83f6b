"""Headless Debian Chromium driven by Playwright against pytest-django's live server."""

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Playwright's sync API runs an event loop; Django's ORM refuses to run inside one without this.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        message = (
            f"BROWSER TESTS NOT RUN: no Chromium at {CHROMIUM}. "
            "Install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH."
        )
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs chromium: a missing one is a broken CI, not a skip
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    yield page
    context.close()


@pytest.fixture
def shoot(tmp_path):
    """Full-page screenshots, for a person to look at: into $JOBS_SCREENSHOTS when set (kept
    after the run, e.g. JOBS_SCREENSHOTS=/tmp/shots), else into the test's tmp_path."""
    folder = Path(os.environ.get("JOBS_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def shoot(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return shoot


@pytest.fixture
def admin_page(browser, live_server, admin):
    """A browser signed in as a superuser, on the jobs dashboard."""
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
