"""ReportGenerationJob (the seed's job), the scheduled daily summary and the expiry sweep.

Each is thin: arguments in, one reports.services call, a small summary out. Services are
imported in `run`: they import this module to enqueue.
"""

from __future__ import annotations

from datetime import date, timedelta

from jobs.base import ApplicationJob, register
from jobs.ledger.concurrency import ConcurrencyLimit


@register
class ReportGenerationJob(ApplicationJob):
    """`ReportGenerationJob.delay("user_activity", {"start_date": …, "end_date": …}, user.id)`.
    Use reports.services.request_report, which validates and dedupes, rather than this."""

    queue = "reports"
    # Errors fail at once (the member is told and may ask again); the second run is for a
    # worker lost mid-report, which the ledger re-enqueues.
    max_attempts = 2
    # One running report per member: a member cannot fill the reports worker alone.
    limits_concurrency = ConcurrencyLimit(
        key=lambda report_type, parameters, user_id: user_id,
        to=1,
        duration=timedelta(minutes=30),
    )

    def validate(self, *, report_type: str, parameters: dict, user_id: int) -> None:
        """Bad parameters are refused at enqueue, with the registry's reason, whoever enqueues
        (reports.services.request_report checks the same before it creates the Report)."""
        from forum.models import User
        from reports import registry

        requester = User.objects.filter(pk=user_id).first()
        if requester is None:
            raise ValueError(f"ReportGenerationJob: no user with id {user_id!r}.")
        registry.clean_parameters(
            report_type=report_type, parameters=parameters, requester=requester
        )

    def run(self, report_type: str, parameters: dict, user_id: int) -> dict:
        from reports.services import generate_report

        report = generate_report(
            report_type=report_type,
            parameters=parameters,
            user_id=user_id,
            job_id=self.request.id or "",
        )
        if report is None:
            return {"skipped": "its report already ended"}
        return {"report": report.pk, "status": report.status}


@register
class DailySummaryReportsJob(ApplicationJob):
    """Daily (beat, 12:00 Lagos): yesterday's daily_summary, built for and sent to
    moderators and admins (reports.selectors.report_readers).
    `day` (YYYY-MM-DD) is for running it by hand; the schedule leaves it out."""

    queue = "reports"
    max_attempts = 3

    def run(self, day: str | None = None) -> dict:
        from reports.services import request_daily_summaries

        reports = request_daily_summaries(day=date.fromisoformat(day) if day else None)
        return {"reports": [report.pk for report in reports]}


@register
class ExpireReportsJob(ApplicationJob):
    """Daily (beat): delete expired reports' files and fail reports whose job was lost."""

    queue = "reports"
    max_attempts = 1

    def run(self) -> dict:
        from reports.services import expire_reports

        return expire_reports()
