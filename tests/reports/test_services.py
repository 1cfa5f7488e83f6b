"""Requesting, building and expiring reports, in this process (test_tasks.py uses a worker)."""

import dataclasses
from datetime import date, timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from forum import services as forum_services
from forum.models import Board, Post
from jobs.models import Job, State
from notifications.models import Notification
from reports import registry
from reports.models import Report, Status
from reports.services import (
    TooManyPendingReports,
    expire_reports,
    generate_report,
    request_daily_summaries,
    request_report,
)

RANGE = {"start_date": "2026-11-10", "end_date": "2026-11-11"}


def report_jobs():
    return list(Job.objects.filter(class_name="ReportGenerationJob"))


def test_a_request_is_queued_on_the_reports_queue_with_its_job(user):
    report = request_report(requester=user, report_type="user_activity", parameters=RANGE)

    assert report.status == Status.QUEUED and report.progress == 0
    assert report.title == f"User activity of {user.username}, 2026-11-10 to 2026-11-11"
    (job,) = report_jobs()
    assert job.pk == report.job_id and job.queue == "reports" and job.state == State.READY
    assert job.args == ["user_activity", {**RANGE, "user_id": user.pk}, user.pk]


@pytest.mark.parametrize(
    "parameters",
    [
        {"start_date": "2026-11-11", "end_date": "2026-11-10"},  # end before start
        {"start_date": "2025-01-01", "end_date": "2026-11-10"},  # over 366 days
        {"start_date": "2026-11-31", "end_date": "2026-12-01"},  # no such date
    ],
)
def test_bad_parameters_raise_value_error_and_queue_nothing(user, parameters):
    with pytest.raises(ValueError):
        request_report(requester=user, report_type="user_activity", parameters=parameters)
    with pytest.raises(ValueError, match="Unknown report type 'top_posters'"):
        request_report(requester=user, report_type="top_posters", parameters=RANGE)
    assert not Report.objects.exists() and report_jobs() == []


def test_the_same_request_while_pending_returns_the_pending_report(user, other_user):
    first = request_report(requester=user, report_type="user_activity", parameters=RANGE)
    again = request_report(requester=user, report_type="user_activity", parameters=dict(RANGE))
    other_range = request_report(
        requester=user,
        report_type="user_activity",
        parameters={**RANGE, "end_date": "2026-11-12"},
    )
    someone_else = request_report(
        requester=other_user, report_type="user_activity", parameters=RANGE
    )

    assert again.pk == first.pk
    assert len({first.pk, other_range.pk, someone_else.pk}) == 3
    assert len(report_jobs()) == 3

    Report.objects.filter(pk=first.pk).update(status=Status.READY)
    assert request_report(requester=user, report_type="user_activity", parameters=RANGE).pk not in (
        first.pk,
        other_range.pk,
    )


def days(n: int) -> dict:
    """The n-th distinct request: a range starting n days into 2026."""
    start = date(2026, 1, 1) + timedelta(days=n)
    return {"start_date": start.isoformat(), "end_date": "2026-12-31"}


def test_a_member_has_at_most_the_limit_of_reports_pending_and_is_told_to_wait(
    user, other_user, settings
):
    settings.REPORTS_MAX_PENDING = 3
    first, *_ = [
        request_report(requester=user, report_type="user_activity", parameters=days(n))
        for n in range(3)
    ]
    with pytest.raises(TooManyPendingReports) as refused:
        request_report(requester=user, report_type="user_activity", parameters=days(3))
    assert str(refused.value) == (
        "You already have 3 reports waiting or being built, the most at a time. Wait for one "
        "of them to finish (My reports shows their progress), then ask for this one again."
    )
    assert Report.objects.filter(requester=user).count() == len(report_jobs()) == 3
    # asking again for one that is pending is not a new report
    assert request_report(requester=user, report_type="user_activity", parameters=days(0)) == first
    # another member has their own allowance
    request_report(requester=other_user, report_type="user_activity", parameters=days(0))

    Report.objects.filter(pk=first.pk).update(status=Status.READY)  # one finished
    request_report(requester=user, report_type="user_activity", parameters=days(3))
    with pytest.raises(TooManyPendingReports):
        request_report(requester=user, report_type="user_activity", parameters=days(4))


def test_a_pending_report_whose_job_the_ledger_gave_up_on_does_not_count(user, settings):
    settings.REPORTS_MAX_PENDING = 2
    lost, _ = [
        request_report(requester=user, report_type="user_activity", parameters=days(n))
        for n in range(2)
    ]
    Job.objects.filter(pk=lost.job_id).update(state=State.FAILED)  # its worker was lost
    request_report(requester=user, report_type="user_activity", parameters=days(2))
    with pytest.raises(TooManyPendingReports, match="You already have 2 reports"):
        request_report(requester=user, report_type="user_activity", parameters=days(3))


def test_the_scheduled_daily_summary_is_never_refused(moderator, settings):
    settings.REPORTS_MAX_PENDING = 1
    request_report(requester=moderator, report_type="user_activity", parameters=days(0))
    (summary,) = request_daily_summaries(day=date(2026, 11, 11))
    assert (summary.requester, summary.status) == (moderator, Status.QUEUED)


def test_a_built_report_is_ready_with_files_numbers_and_the_requester_told(forum):
    report = request_report(requester=forum.ada, report_type="user_activity", parameters=RANGE)

    generate_report(
        report_type="user_activity",
        parameters=report.parameters,
        user_id=forum.ada.pk,
        job_id=str(report.job_id),
    )

    report.refresh_from_db()
    assert (report.status, report.progress, report.error) == (Status.READY, 100, "")
    assert report.started_at <= report.finished_at
    assert report.expires_at == report.finished_at + timedelta(days=7)
    assert report.result["tables"][0]["rows"] == [["ada", 2, 1, 2, 2]]
    assert default_storage.open(report.csv_file.name).read().decode().startswith('"Total","Count"')
    assert default_storage.open(report.chart_file.name).read().startswith(b"<svg")
    notification = Notification.objects.get(recipient=forum.ada)
    assert notification.notification_type == "report_ready"
    assert notification.data == {"title": report.title, "url": f"/reports/{report.pk}/"}
    email = Job.objects.get(class_name="EmailNotificationJob")
    assert email.args[:3] == [forum.ada.pk, "report_ready", report.pk]


def test_a_job_enqueued_without_a_request_makes_its_report(forum, moderator):
    generate_report(
        report_type="daily_summary",
        parameters={"date": "2026-11-11"},
        user_id=moderator.pk,
        job_id="",
    )
    report = Report.objects.get()
    assert (report.requester, report.status, report.title) == (
        moderator,
        Status.READY,
        "Daily summary for 2026-11-11",
    )
    assert report.result["totals"]["Posts"] == 2

    generate_report(
        report_type="daily_summary", parameters={"date": "2026-11-10"}, user_id=moderator.pk
    )
    assert Report.objects.filter(status=Status.READY).count() == 2


def test_the_scheduled_daily_summary_is_yesterday_for_each_active_moderator_and_admin(
    moderator, admin, staff, user
):
    from tests.forum.factories import UserFactory

    UserFactory(is_staff=True, is_active=False, groups=["Moderators"])

    reports = request_daily_summaries()

    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert [(r.requester, r.parameters) for r in reports] == [
        (moderator, {"date": yesterday}),
        (admin, {"date": yesterday}),
    ]
    assert request_daily_summaries(day=date.fromisoformat(yesterday)) == reports  # deduped


def test_the_daily_summary_runs_from_beat_at_noon_lagos_time(db):
    entry = PeriodicTask.objects.get(task="DailySummaryReportsJob")
    assert (entry.crontab.hour, entry.crontab.minute, str(entry.crontab.timezone)) == (
        "12",
        "0",
        "Africa/Lagos",
    )
    assert entry.enabled and entry.kwargs == "{}"  # "yesterday" is worked out when it runs
    assert PeriodicTask.objects.get(task="ExpireReportsJob").enabled


def test_expired_reports_lose_their_files_and_numbers(forum):
    report = request_report(requester=forum.bayo, report_type="user_activity", parameters=RANGE)
    generate_report(
        report_type="user_activity",
        parameters=report.parameters,
        user_id=forum.bayo.pk,
        job_id=str(report.job_id),
    )
    report.refresh_from_db()
    files = [report.csv_file.name, report.chart_file.name]

    assert expire_reports() == {"expired": 0, "abandoned": 0}  # not yet
    assert expire_reports(now=report.expires_at) == {"expired": 1, "abandoned": 0}

    report.refresh_from_db()
    assert (report.status, report.result, report.csv_file.name) == (Status.EXPIRED, None, "")
    assert not any(default_storage.exists(name) for name in files)


def test_a_pending_report_whose_job_failed_is_marked_failed(user):
    report = request_report(requester=user, report_type="user_activity", parameters=RANGE)
    Job.objects.filter(pk=report.job_id).update(state=State.FAILED)

    assert expire_reports() == {"expired": 0, "abandoned": 1}
    report.refresh_from_db()
    assert report.status == Status.FAILED
    assert report.error.startswith("The report job stopped before finishing")
    told = Notification.objects.get(recipient=user)
    assert told.data["error"] == report.error
    assert Job.objects.filter(class_name="EmailNotificationJob").count() == 1


# --- Hidden and deleted content in members' reports -------------------------------------------


def built(requester, report_type: str, **parameters) -> Report:
    report = request_report(requester=requester, report_type=report_type, parameters=parameters)
    generate_report(
        report_type=report_type,
        parameters=report.parameters,
        user_id=requester.pk,
        job_id=str(report.job_id),
    )
    report.refresh_from_db()
    return report


def csv_of(report: Report) -> str:
    return default_storage.open(report.csv_file.name).read().decode()


def test_a_members_report_leaves_out_hidden_posts_and_what_hangs_off_them(forum, moderator):
    Post.objects.filter(pk=forum.p1.pk).update(is_hidden=True)  # Fuel price, and its activity

    board = built(forum.bayo, "board_activity", board_id=forum.politics.pk, **RANGE)
    assert board.result["totals"] == {"Posts": 1, "Comments": 0}
    assert board.result["tables"][1]["rows"] == [] and "Fuel price" not in csv_of(board)
    # bayo's comment on it, his like of it and ada's like of that comment are not counted
    activity = built(forum.bayo, "user_activity", **RANGE)
    assert activity.result["tables"][0]["rows"] == [["bayo", 1, 0, 0, 0]]
    # Moderators see hidden content, and so do their reports.
    staff_board = built(moderator, "board_activity", board_id=forum.politics.pk, **RANGE)
    assert staff_board.result["totals"] == {"Posts": 2, "Comments": 2}
    assert staff_board.result["tables"][1]["rows"] == [["Fuel price", "Politics", 2, 2]]


@pytest.mark.parametrize("moderation", ["hide", "delete"])
def test_a_post_hidden_or_deleted_later_leaves_members_reports_but_not_staffs(
    forum, moderator, admin, moderation
):
    Board.objects.filter(pk=forum.politics.pk).update(post_count=2)  # factories leave it at 0
    mine = built(forum.bayo, "board_activity", board_id=forum.politics.pk, **RANGE)
    theirs = built(moderator, "board_activity", board_id=forum.politics.pk, **RANGE)
    assert "Fuel price" in csv_of(mine)
    csv_name = mine.csv_file.name

    if moderation == "hide":
        forum_services.post_set_hidden(post=forum.p1, moderator=moderator, hidden=True)
    else:
        forum_services.post_delete(post=forum.p1, actor=admin)

    mine.refresh_from_db()
    assert mine.result["tables"][1]["rows"] == [] and mine.result["tables"][1]["post_ids"] == []
    assert "Fuel price" not in csv_of(mine) and mine.csv_file.name == csv_name
    theirs.refresh_from_db()
    assert theirs.result["tables"][1]["rows"] == [["Fuel price", "Politics", 2, 2]]


def test_a_post_hidden_while_a_members_report_is_built_is_left_out(forum, monkeypatch):
    kind = registry.REPORT_TYPES["board_activity"]

    def build_then_hide(parameters, step, visible_only):
        result = kind.build(parameters, step, visible_only)
        Post.objects.filter(pk=forum.p1.pk).update(is_hidden=True)  # a moderator, meanwhile
        return result

    monkeypatch.setitem(
        registry.REPORT_TYPES, "board_activity", dataclasses.replace(kind, build=build_then_hide)
    )
    report = built(forum.bayo, "board_activity", board_id=forum.politics.pk, **RANGE)
    assert report.result["tables"][1]["rows"] == [] and "Fuel price" not in csv_of(report)
