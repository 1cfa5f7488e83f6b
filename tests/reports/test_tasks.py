"""ReportGenerationJob on a real reports worker: ready, one at a time per member, failures."""

import time
from itertools import pairwise

import psycopg
import pytest

from jobs.models import Job, State
from notifications.models import Notification
from reports.models import Report, Status
from reports.services import request_report
from tests.conftest import test_database_url
from tests.jobs.helpers import wait_for, wait_for_state

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RANGE = {"start_date": "2026-11-10", "end_date": "2026-11-11"}


def wait_for_report(report: Report, *statuses: str, timeout: float = 60) -> Report:
    def ended() -> bool:
        report.refresh_from_db()
        return report.status in statuses

    wait_for(ended, timeout=timeout, message=f"report {report.pk} to be {'/'.join(statuses)}")
    return report


def test_a_report_built_by_the_reports_worker_is_ready_and_its_requester_told(
    reports_worker, forum
):
    report = request_report(requester=forum.ada, report_type="user_activity", parameters=RANGE)

    wait_for_report(report, Status.READY, Status.FAILED)
    assert (report.status, report.progress) == (Status.READY, 100), report.error
    assert report.result["tables"][0]["rows"] == [["ada", 2, 1, 2, 2]]
    assert wait_for_state(report.job_id, State.FINISHED).worker == reports_worker.hostname
    assert Notification.objects.get(recipient=forum.ada).data["url"] == f"/reports/{report.pk}/"
    email = Job.objects.get(class_name="EmailNotificationJob")
    assert (email.queue, email.args[1]) == ("default", "report_ready")  # not on reports


def test_five_reports_of_one_member_run_one_at_a_time(processes, media, forum, settings):
    settings.REPORTS_MAX_PENDING = 5
    processes.worker(queues="reports", concurrency=2, env={"MEDIA_ROOT": str(media)})
    reports = [
        request_report(
            requester=forum.bayo,
            report_type="user_activity",
            parameters={"start_date": f"2026-11-{day:02}", "end_date": "2026-11-20"},
        )
        for day in range(1, 6)
    ]
    other = request_report(requester=forum.chi, report_type="user_activity", parameters=RANGE)
    states = Job.objects.filter(pk__in=[r.job_id for r in reports]).values_list("state", flat=True)
    assert sorted(states)[:4] == ["blocked"] * 4  # the first may be running already
    assert Job.objects.get(pk=other.job_id).state != State.BLOCKED  # another member's slot
    processes.dispatcher()  # releases the blocked ones as each finishes

    for report in [*reports, other]:
        assert wait_for_report(report, Status.READY, Status.FAILED).status == Status.READY
    runs = sorted((r.started_at, r.finished_at) for r in reports)
    assert all(ended <= next_start for (_, ended), (next_start, _) in pairwise(runs))
    assert Notification.objects.filter(recipient=forum.bayo).count() == 5


def test_a_report_that_cannot_be_saved_fails_readably_and_the_requester_is_told(
    processes, tmp_path, forum
):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    processes.worker(queues="reports", env={"MEDIA_ROOT": str(not_a_folder / "media")})
    report = request_report(requester=forum.ada, report_type="user_activity", parameters=RANGE)

    wait_for_report(report, Status.FAILED, Status.READY)
    assert report.error == (
        "The report could not be built: the server hit an error (NotADirectoryError). "
        "Request it again; if it fails again, tell the forum staff."
    )
    job = wait_for_state(report.job_id, State.FAILED)
    assert job.error_class == "NotADirectoryError" and str(not_a_folder) in job.error_message
    told = Notification.objects.get(recipient=forum.ada)
    assert told.data == {
        "title": report.title,
        "url": report.get_absolute_url(),
        "error": report.error,
    }


def test_a_report_over_its_time_limit_fails_saying_so(processes, media, forum, settings):
    # 3 s: room for the run's start (claim, requester, `running`) before the limit can strike.
    settings.JOB_TIME_LIMITS = {**settings.JOB_TIME_LIMITS, "reports": (3, 30)}
    processes.worker(queues="reports", env={"MEDIA_ROOT": str(media)})
    # Another session holds the posts table past the limit: the report's first query waits,
    # and the limit strikes as soon as it returns.
    with psycopg.connect(test_database_url()) as blocker:
        blocker.execute("LOCK TABLE forum_post IN ACCESS EXCLUSIVE MODE")
        report = request_report(requester=forum.ada, report_type="user_activity", parameters=RANGE)
        wait_for(
            lambda: Job.objects.filter(pk=report.job_id, state=State.CLAIMED).exists(),
            message="the report to start",
        )
        time.sleep(5)
        blocker.rollback()
    wait_for_report(report, Status.FAILED, Status.READY)
    assert report.error == (
        "The report took longer than the time limit for reports and was stopped. "
        "Request a shorter date range."
    )
    assert Notification.objects.get(recipient=forum.ada).data["error"] == report.error
    assert wait_for_state(report.job_id, State.FAILED).error_class == "SoftTimeLimitExceeded"


def test_the_scheduled_daily_summary_reaches_moderators(reports_worker, forum, moderator):
    from reports.tasks import DailySummaryReportsJob

    DailySummaryReportsJob.delay("2026-11-11")

    wait_for(
        lambda: Report.objects.filter(status=Status.READY).exists(),
        timeout=60,
        message="the daily summary",
    )
    report = Report.objects.get()
    assert (report.requester, report.result["totals"]["Posts"]) == (moderator, 2)
    summary = Notification.objects.get(recipient=moderator)
    assert summary.data["title"] == "Daily summary for 2026-11-11"
