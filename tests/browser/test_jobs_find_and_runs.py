"""Finding a job and reading its runs, in a real browser: the find box on a tab (id prefix,
whole id, name=value, a bad query, a bounded window and "Search further"); a job page's
attempts after retried errors, an operator's retry from the page and one more run, with a
traceback that stays open across a live refresh; and full-page screenshots of the overview, a
job page, triage and the find results, for a person to look at (`shoot` in conftest: set
JOBS_SCREENSHOTS=/tmp/shots to keep them)."""

import re

import pytest
from playwright.sync_api import expect

from jobs.models import Job, State
from tests.jobs.helpers import claim_run, end, promote
from tests.jobs.sample_jobs import GatedJob, RecordJob, UserNameJob

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# One live refresh round is 5 s; waiting for two covers a round that had just begun.
TWO_ROUNDS_MS = 12_000


# --- Find a job -----------------------------------------------------------------------------


def find(page, text: str) -> None:
    page.fill("form[role=search] input[name=q]", text)
    page.click("form[role=search] button:text('Find')")


def test_find_by_id_prefix_whole_id_and_argument_and_a_bad_query_says_what_to_do(admin_page, shoot):
    page = admin_page
    wanted = GatedJob.delay("wanted", 7).id
    also = GatedJob.delay("also", 7).id
    other_value = GatedJob.delay("other", 8).id
    no_such_parameter = RecordJob.delay("seven", 7).id  # args[1] is 7 too, but no `size`
    page.click(".jobs-tabs >> text=Ready")

    prefix = str(wanted).replace("-", "")[:8]
    find(page, prefix)
    expect(page.locator("#searched")).to_contain_text(f"with an id starting {prefix}")
    expect(page.locator("#jobs tbody tr")).to_have_count(1)
    page.locator(f"#jobs tr[data-job='{wanted}'] a").click()
    expect(page.locator("#job")).to_contain_text(str(wanted))
    expect(page.locator("h2")).to_have_text("GatedJob — ready")

    find(page, str(also))  # a whole id: straight to the job's page
    expect(page).to_have_url(re.compile(rf"/dashboard/job/{also}/$"))
    expect(page.locator("#job")).to_contain_text(str(also))

    page.click(".jobs-tabs >> text=Ready")
    find(page, "size=7")
    rows = page.locator("#jobs tbody tr")
    expect(rows).to_have_count(2)
    listed = {rows.nth(i).get_attribute("data-job") for i in range(2)}
    assert listed == {str(wanted), str(also)}
    assert str(other_value) not in listed and str(no_such_parameter) not in listed
    # As JSON, the way the box takes them: key="wanted" can be typed back from the results.
    expect(page.locator(f"#jobs tr[data-job='{wanted}'] code")).to_have_text('["wanted", 7]')
    expect(page.locator("#searched")).to_contain_text("all 4 ready jobs: 2 matches")
    expect(page.locator("#searched")).to_contain_text("That is every job in this state.")
    expect(page.locator("form[role=search] input[name=q]")).to_have_value("size=7")
    shoot(page, "find-results")

    for bad, says in (
        ("٤٢", "is no job id: an id is written in hex digits 0-9 and a-f"),
        ("user_id=", "Give a value after 'user_id=': e.g. user_id=42."),
        ("no_such_name=1", "No job's run takes a parameter named 'no_such_name'"),
    ):
        with page.expect_response(re.compile(r"/dashboard/find/")) as answer:
            find(page, bad)
        assert answer.value.status == 400, bad  # a clear error, not a 500
        expect(page.locator(".messagelist .error")).to_contain_text(says)
        expect(page.locator("#jobs")).to_have_count(0)
        expect(page.locator("form[role=search] input[name=q]")).to_have_value(bad)
    shoot(page, "find-bad-query")


def test_an_argument_search_says_how_many_jobs_it_read_and_searches_further(
    admin_page, settings, shoot
):
    settings.JOBS_FIND_WINDOW = 3  # the live server runs in this process: it reads this
    for i in range(4):
        RecordJob.delay(f"before-{i}")
    beyond = GatedJob.delay("beyond", 9).id  # the fifth ready job: past the first window
    page = admin_page
    page.click(".jobs-tabs >> text=Ready")
    find(page, "size=9")
    searched = page.locator("#searched")
    expect(searched).to_contain_text("Searched the first 3 ready jobs (of more): 0 matches.")
    expect(page.locator("#jobs tbody")).to_contain_text("No job matches in the jobs searched.")

    page.click("#searched a:text('Search further')")
    expect(searched).to_contain_text("Searched the remaining 2 ready jobs: 1 match.")
    expect(searched).to_contain_text("That is every job in this state.")
    expect(page.locator(f"#jobs tr[data-job='{beyond}']")).to_be_visible()
    shoot(page, "find-search-further")


# --- Attempts history -----------------------------------------------------------------------

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "forum/mail.py", line 31, in send\n'
    "    smtp.sendmail(sender, recipients, message)\n"
    "ConnectionError: {}"
)


def smtp_error(n: int) -> tuple[str, str, str]:
    text = f"SMTP server unreachable (run {n})"
    return "ConnectionError", text, TRACEBACK.format(text)


def test_the_attempts_table_shows_every_run_and_an_opened_traceback_survives_a_refresh(
    admin_page, shoot
):
    page = admin_page
    job_id = RecordJob.delay("welcome-mail").id
    for n in (1, 2):  # retried errors, then the last attempt fails
        end(job_id, claim_run(job_id), State.SCHEDULED, error=smtp_error(n))
        promote()
    end(job_id, claim_run(job_id), State.FAILED, error=smtp_error(3))
    # Some other errors, for triage: a class that is not retried, failed now.
    for key in ("report-1", "report-2"):
        gated = GatedJob.delay(key, 5).id
        message = f"report {key} of size 5 is not allowed yet"
        end(gated, claim_run(gated, "GatedJob"), State.FAILED, error=("ValueError", message, ""))
    gone = UserNameJob.delay(424242).id
    end(gone, claim_run(gone, "UserNameJob"), State.SCHEDULED, error=smtp_error(1))

    page.goto(f"/admin/jobs/job/dashboard/job/{job_id}/")
    expect(page.locator("h2")).to_have_text("RecordJob — failed")
    expect(page.locator("#job")).to_contain_text("ConnectionError: SMTP server unreachable (run 3)")
    expect(page.locator("#job-actions button")).to_have_text(["Retry", "Discard"])
    page.click("#job-actions button:text('Retry')")  # the operator's retry, from the job page
    expect(page.locator(".messagelist")).to_contain_text("Re-enqueued 1 job")
    expect(page).to_have_url(re.compile(rf"/dashboard/job/{job_id}/$"))
    expect(page.locator("h2")).to_have_text("RecordJob — scheduled")
    assert Job.objects.get(pk=job_id).state == State.SCHEDULED
    expect(page.locator("#job-actions button")).to_have_text(["Run now", "Discard"])
    rows = page.locator("#attempts tbody tr")
    expect(rows).to_have_count(3)

    promote()
    end(job_id, claim_run(job_id), State.FINISHED)  # the next run, seen by the live refresh
    expect(rows).to_have_count(4, timeout=TWO_ROUNDS_MS)
    # The same refresh brings the rest of the page along: no "scheduled" above a finished run.
    expect(page.locator("h2")).to_have_text("RecordJob — finished")
    expect(page.locator("#job")).to_contain_text("1 of 5 (4 runs in all")
    expect(page.locator("#job-actions button")).to_have_count(0)  # nothing to retry now
    expected = [  # newest first: # goes on, the attempt starts again at 1 after the retry
        ("4", "1", "finished", "-"),
        ("3", "3", "failed", "ConnectionError: SMTP server unreachable (run 3)"),
        ("2", "2", "retried", "ConnectionError: SMTP server unreachable (run 2)"),
        ("1", "1", "retried", "ConnectionError: SMTP server unreachable (run 1)"),
    ]
    for i, (number, attempt, outcome, error) in enumerate(expected):
        cells = rows.nth(i).locator("td")
        expect(cells.nth(0)).to_have_text(number)
        expect(cells.nth(1)).to_have_text(attempt)
        expect(cells.nth(7)).to_have_text(outcome)
        expect(cells.nth(8)).to_contain_text(error)
        assert rows.nth(i).get_attribute("data-outcome") == outcome
    expect(rows.nth(0).locator("td").nth(4)).to_have_text(re.compile(r"^\d+\.\d{3} s$"))

    details = rows.nth(2).locator("details")
    expect(details.locator("pre")).not_to_be_visible()
    details.locator("summary:text('Traceback')").click()
    expect(details.locator("pre")).to_be_visible()
    expect(details.locator("pre")).to_contain_text('File "forum/mail.py", line 31, in send')
    expect(details.locator("pre")).to_contain_text("SMTP server unreachable (run 2)")
    # The click left the keyboard focus on the <summary>: that does not hold the refresh back
    # (only a focused form field does, base.html).
    page.evaluate("window.table = document.getElementById('attempts')")
    page.wait_for_function(  # one live refresh: the table is a fresh copy
        "() => document.getElementById('attempts') !== window.table", timeout=TWO_ROUNDS_MS
    )
    expect(page.locator("#jobs-live-status")).to_have_text(re.compile(r"^updated \d\d:\d\d:\d\d$"))
    details = page.locator("#attempts tbody tr").nth(2).locator("details")
    assert details.evaluate("d => d.open") is True  # still open after the refresh
    expect(details.locator("pre")).to_be_visible()
    shoot(page, "job-attempts")

    page.goto("/admin/jobs/job/dashboard/triage/?window=24h")
    triage = page.locator("#triage tbody tr")
    expect(triage).to_have_count(3)
    record = page.locator("#triage tr[data-class='RecordJob'][data-error='ConnectionError'] td")
    expect(record.nth(2)).to_have_text("3")  # three runs with that error
    expect(record.nth(3)).to_have_text("0")  # and the job is not failed now
    gated = page.locator("#triage tr[data-class='GatedJob'][data-error='ValueError'] td")
    expect(gated.nth(2)).to_have_text("2")
    expect(gated.nth(3)).to_have_text("2")
    shoot(page, "triage")

    page.goto("/admin/jobs/job/dashboard/")
    expect(page.locator("#states [data-state='failed'] b")).to_have_text("2")
    shoot(page, "overview")
