"""Running queued email jobs in this process, for tests about what an email says rather
than how it travels (those use a real worker and SMTP server: test_tasks.py)."""

from __future__ import annotations

from django.contrib.auth.models import Permission

from forum.models import User
from jobs.models import Job, State
from notifications.tasks import EmailNotificationJob, PasswordResetJob
from tests.forum.factories import UserFactory


def run_email_jobs() -> list[Job]:
    """Run every EmailNotificationJob waiting in the ledger (due or not) as a worker would
    not: inline, here, into Django's test outbox; password reset requests first, as they
    queue the emails. Returns the email jobs it ran."""
    for job in _waiting("PasswordResetJob"):
        PasswordResetJob(*job.args, **job.kwargs)
        Job.objects.filter(pk=job.pk).update(state=State.FINISHED)
    jobs = _waiting("EmailNotificationJob")
    for job in jobs:
        EmailNotificationJob(*job.args, **job.kwargs)
        Job.objects.filter(pk=job.pk).update(state=State.FINISHED)
    return jobs


def _waiting(class_name: str) -> list[Job]:
    waiting = Job.objects.filter(class_name=class_name, state__in=[State.READY, State.SCHEDULED])
    return list(waiting.order_by("created_at"))


def email_jobs(notification_type: str | None = None) -> list[Job]:
    jobs = Job.objects.filter(class_name="EmailNotificationJob").order_by("created_at")
    if notification_type:
        jobs = [job for job in jobs if job.args[1] == notification_type]
    return list(jobs)


def mail_reader() -> User:
    """Staff holding the permission the deliveries log shows (admin's view permission)."""
    reader = UserFactory(is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_emaildelivery"))
    return reader
