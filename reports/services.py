"""Every write to reports: requesting one, building it (from the job), taking a hidden or
deleted post out of members' reports, expiring old ones.

    report = request_report(requester=user, report_type="user_activity",
                            parameters={"start_date": "2026-11-01", "end_date": "2026-11-28"})

The request is validated before anything is written (ValueError with the reason); the
report row and its ReportGenerationJob land in one transaction. The job calls
`generate_report`, which records progress as it goes and ends `ready` or `failed` with a
message a member can act on; either way the requester is told in-app and by email.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from forum.models import Post, User
from forum.selectors import sees_hidden
from jobs.models import Job, State
from notifications.services import notify_report_ready
from reports import registry, selectors
from reports.models import PENDING, Report, Status
from reports.rendering import render_chart_svg, render_csv
from reports.tasks import ReportGenerationJob

logger = logging.getLogger("reports")

START_PROGRESS, FILES_PROGRESS = 5, 90  # the selector's steps fill the span between


def request_report(
    *, requester: User, report_type: str, parameters: dict, limit_pending: bool = True
) -> Report:
    """The pending report for the same request, or a new one queued. Raises ValueError
    (registry.ParameterError) for a request that cannot be made, TooManyPendingReports (one
    too) when the member already has REPORTS_MAX_PENDING reports waiting or being built;
    nothing is queued then. `limit_pending=False` is for the schedule's own requests."""
    parameters = registry.clean_parameters(
        report_type=report_type, parameters=parameters, requester=requester
    )
    try:
        with transaction.atomic():
            # One member's requests take turns from here to the commit, so that the count
            # below is still true when the new report lands: 40 requests at once queue no
            # more than the cap. Only the member's own row: others are not held up.
            _lock_member(requester.pk)
            existing = _pending(
                requester_id=requester.pk, report_type=report_type, parameters=parameters
            )
            if existing is not None:
                return existing
            if limit_pending:
                _check_pending_limit(requester.pk)
            job_id = uuid.uuid4()
            report = Report.objects.create(
                requester=requester,
                report_type=report_type,
                parameters=parameters,
                title=registry.get(report_type).title(parameters),
                job_id=job_id,
            )
            # Ignored: mypy does not apply @register (see notifications.services).
            ReportGenerationJob.apply_async(
                [report_type, parameters, requester.pk],
                task_id=str(job_id),
            )
    except IntegrityError:  # the same request made by a job without one (see generate_report)
        existing = _pending(
            requester_id=requester.pk, report_type=report_type, parameters=parameters
        )
        if existing is None:
            raise
        return existing
    return report


class TooManyPendingReports(registry.ParameterError):
    """A member asked for a report while REPORTS_MAX_PENDING of theirs are still pending."""

    def __init__(self, pending: int) -> None:
        super().__init__(
            "__all__",
            f"You already have {pending} reports waiting or being built, the most at a time. "
            "Wait for one of them to finish (My reports shows their progress), then ask for "
            "this one again.",
        )
        self.pending = pending


def request_daily_summaries(*, day: date | None = None) -> list[Report]:
    """The scheduled daily_summary (yesterday, Lagos time) for every active member who sees
    every report (the Moderators group, superusers)."""
    day = day or timezone.localdate() - timedelta(days=1)
    return [
        request_report(
            requester=member,
            report_type="daily_summary",
            parameters={"date": day.isoformat()},
            limit_pending=False,
        )
        for member in selectors.report_readers().order_by("pk")
    ]


def generate_report(
    *, report_type: str, parameters: dict, user_id: int, job_id: str = ""
) -> Report | None:
    """Build the pending report for this request; None when there is nothing left to do.

    Called by ReportGenerationJob. A job enqueued without a report row (beat, `celery
    call`) creates one. Errors mark the report failed, tell the requester and are re-raised
    so the job is recorded as failed too."""
    requester = User.objects.get(pk=user_id)  # gone: the job is discarded
    report = _pending(requester_id=user_id, report_type=report_type, parameters=parameters)
    if report is None:
        if job_id and Report.objects.filter(job_id=job_id).exists():
            return None  # this job's report already ended (a late duplicate)
        report = _report_without_request(requester, report_type, parameters, job_id)
    kind = registry.get(report_type)
    _update(
        report,
        status=Status.RUNNING,
        started_at=timezone.now(),
        progress=START_PROGRESS,
        error="",
        job_id=job_id or report.job_id,
    )
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        span = FILES_PROGRESS - START_PROGRESS
        _update(report, progress=START_PROGRESS + span * min(done, kind.steps) // kind.steps)

    visible_only = not sees_hidden(requester)
    try:
        result = kind.build(report.parameters, step, visible_only)
        with transaction.atomic():
            if visible_only:
                # Posts hidden or deleted while the build ran are taken out; the others stay
                # locked until the report is ready, so that a moderator hiding one meanwhile
                # waits and then finds this report (withdraw_post).
                _drop_posts(result, post_ids=_listed_posts_gone(result))
            csv_name = _save_csv(report, result)
            chart_name = default_storage.save(
                f"reports/{report.pk}/chart-{report.pk}.svg",
                ContentFile(render_chart_svg(result["chart"])),
            )
            now = timezone.now()
            _update(
                report,
                status=Status.READY,
                progress=100,
                finished_at=now,
                result=result,
                expires_at=now + timedelta(days=settings.REPORTS_KEEP_DAYS),
                csv_file=csv_name,
                chart_file=chart_name,
            )
            notify_report_ready(
                user=requester,
                report_id=report.pk,
                title=report.title,
                url=report.get_absolute_url(),
            )
    except SoftTimeLimitExceeded:
        _drop_interrupted_connection()
        _fail(
            report,
            "The report took longer than the time limit for reports and was "
            "stopped. Request a shorter date range.",
        )
        raise
    except Exception as error:
        # The error's class only: its message may hold paths or SQL; the job keeps it all.
        _fail(
            report,
            f"The report could not be built: the server hit an error "
            f"({type(error).__name__}). Request it again; if it fails again, tell "
            "the forum staff.",
        )
        raise
    return report


def withdraw_post(*, post_id: int) -> None:
    """Take a post a moderator hid or deleted out of the ready reports of members that list
    it (the "Top posts" rows, in the page and the CSV): a member's report must not keep what
    members can no longer see. Its counts stay: numbers show no content. Call it in the
    transaction that hides or deletes the post."""
    listing = Report.objects.select_for_update(of=("self",)).select_related("requester")
    listing = listing.filter(
        status=Status.READY, result__tables__contains=[{"post_ids": [post_id]}]
    )
    for report in listing:
        if sees_hidden(report.requester):
            continue
        # The filter matched inside `result`, and a ready report has its CSV.
        assert report.result is not None and report.csv_file.name is not None
        _drop_posts(report.result, post_ids={post_id})
        default_storage.delete(report.csv_file.name)  # first, so the new one keeps its name
        _update(report, result=report.result, csv_file=_save_csv(report, report.result))


def expire_reports(*, now: datetime | None = None) -> dict[str, int]:
    """Delete the files and numbers of ready reports past their expiry (the page then offers
    to build it again), and fail pending reports whose job the ledger gave up on."""
    now = now or timezone.now()
    expired = 0
    for report in Report.objects.filter(status=Status.READY, expires_at__lte=now).iterator():
        for name in (report.csv_file.name, report.chart_file.name):
            if name:
                default_storage.delete(name)
        expired += Report.objects.filter(pk=report.pk, status=Status.READY).update(
            status=Status.EXPIRED, result=None, csv_file="", chart_file=""
        )
    dead_jobs = Job.objects.filter(state__in=[State.FAILED, State.DISCARDED]).values("id")
    abandoned = 0
    for report in Report.objects.filter(status__in=PENDING, job_id__in=dead_jobs):
        _fail(
            report,
            "The report job stopped before finishing (its worker was lost). "
            "Request the report again.",
        )
        abandoned += 1
    return {"expired": expired, "abandoned": abandoned}


# --- Helpers ---------------------------------------------------------------------------------


def _pending(*, requester_id: int, report_type: str, parameters: dict) -> Report | None:
    return Report.objects.filter(
        requester_id=requester_id,
        report_type=report_type,
        parameters=parameters,
        status__in=PENDING,
    ).first()


def _lock_member(user_id: int) -> None:
    """FOR NO KEY UPDATE on the member's row: their report requests wait for each other;
    foreign-key checks (FOR KEY SHARE) of their posts and comments do not wait for it."""
    list(User.objects.select_for_update(no_key=True).filter(pk=user_id).values_list("pk"))


def _check_pending_limit(user_id: int) -> None:
    """Raise TooManyPendingReports at the limit. A report whose job the ledger gave up on
    (expire_reports fails it later) does not count: it is not waiting for anything."""
    reports = Report.objects.filter(requester_id=user_id, status__in=PENDING)
    dead_jobs = Job.objects.filter(
        pk__in=reports.values("job_id"), state__in=[State.FAILED, State.DISCARDED]
    )
    pending = reports.exclude(job_id__in=dead_jobs.values("pk")).count()
    if pending >= settings.REPORTS_MAX_PENDING:
        raise TooManyPendingReports(pending)


def _report_without_request(
    requester: User, report_type: str, parameters: dict, job_id: str
) -> Report:
    """The row for a job enqueued directly; its arguments are checked as a request's are."""
    parameters = registry.clean_parameters(
        report_type=report_type, parameters=parameters, requester=requester
    )
    existing = _pending(requester_id=requester.pk, report_type=report_type, parameters=parameters)
    if existing is not None:
        return existing
    return Report.objects.create(
        requester=requester,
        report_type=report_type,
        parameters=parameters,
        title=registry.get(report_type).title(parameters),
        job_id=job_id or None,
    )


def _save_csv(report: Report, result: dict) -> str:
    return default_storage.save(
        f"reports/{report.pk}/report-{report.pk}.csv", ContentFile(render_csv(result))
    )


def _listed_posts_gone(result: dict) -> set[int]:
    """The posts a result lists that are hidden or deleted now. The rest are locked (FOR NO
    KEY UPDATE, which a moderator's FOR UPDATE waits for) until the transaction ends."""
    listed = {pk for table in result["tables"] for pk in table.get("post_ids", [])}
    visible = Post.objects.select_for_update(no_key=True).filter(pk__in=listed, is_hidden=False)
    return listed - set(visible.values_list("pk", flat=True))


def _drop_posts(result: dict, *, post_ids: set[int]) -> None:
    """Remove the rows of `post_ids` from the result's tables that list posts."""
    for table in result["tables"]:
        if "post_ids" in table and post_ids & set(table["post_ids"]):
            kept = [
                (pk, row)
                for pk, row in zip(table["post_ids"], table["rows"], strict=True)
                if pk not in post_ids
            ]
            table["post_ids"] = [pk for pk, _ in kept]
            table["rows"] = [row for _, row in kept]


def _update(report: Report, **fields: Any) -> None:
    """Write at once (the worker runs in autocommit): the pages poll these columns."""
    Report.objects.filter(pk=report.pk).update(**fields)
    for name, value in fields.items():
        setattr(report, name, value)


def _drop_interrupted_connection() -> None:
    """The time limit can strike mid-query, leaving the connection unusable (psycopg: "in
    transaction status ACTIVE"): cancel the query on the server and reconnect, so that the
    failure can still be recorded and the requester told."""
    raw = connection.connection
    if raw is not None:
        with contextlib.suppress(Exception):  # closing it is what matters
            raw.cancel_safe(timeout=5)
    connection.close()


@transaction.atomic
def _fail(report: Report, message: str) -> None:
    """Record the failure and tell the requester (in-app and by email), with what to do."""
    logger.warning("report.fail id=%s type=%s: %s", report.pk, report.report_type, message)
    _update(report, status=Status.FAILED, finished_at=timezone.now(), error=message)
    notify_report_ready(
        user=report.requester,
        report_id=report.pk,
        title=report.title,
        url=report.get_absolute_url(),
        error=message,
    )
