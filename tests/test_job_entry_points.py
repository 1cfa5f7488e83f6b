"""Every job entry point with bad arguments: a clear error at enqueue, nothing written; and a
bad message that reaches a worker anyway (celery call, Flower) ends failed or discarded at
once, never in an endless retry."""

import pytest

from config.celery import app
from jobs.models import Job, State
from notifications.tasks import EmailNotificationJob, PasswordResetJob
from reports.tasks import ReportGenerationJob
from search.tasks import ContentIndexingJob
from tests.jobs.helpers import wait_for_state

pytestmark = pytest.mark.django_db(transaction=True)

BAD_ENQUEUES = [
    (EmailNotificationJob, [1, "no_such_type"], {}, "welcome"),
    (EmailNotificationJob, [1, "new_comment", None, object()], {}, "not JSON"),
    (EmailNotificationJob, [], {}, "missing"),
    (PasswordResetJob, [7], {}, "a string"),
    (PasswordResetJob, [["ada@example.com"]], {}, "a string"),
    (ContentIndexingJob, [1, "video"], {}, "post"),
    (ContentIndexingJob, [1], {}, "missing"),
    (ReportGenerationJob, ["no_such_report", {}, 1], {}, "user_activity"),
    (ReportGenerationJob, ["user_activity", {"start_date": "2026-02-30"}, 1], {}, None),
    (
        ReportGenerationJob,
        ["user_activity", {"start_date": "2026-11-07", "end_date": "2026-11-01"}, 1],
        {},
        None,
    ),
]


@pytest.mark.parametrize(("job", "args", "kwargs", "says"), BAD_ENQUEUES)
def test_bad_arguments_are_refused_at_enqueue_with_a_reason(job, args, kwargs, says, user):
    if job is ReportGenerationJob and args[2] == 1:
        args = [args[0], args[1], user.pk]
    with pytest.raises((TypeError, ValueError)) as error:
        job.apply_async(args, kwargs)
    if says:
        assert says in str(error.value)
    assert not Job.objects.exists()


@pytest.mark.worker
@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("EmailNotificationJob", [1, "no_such_type"]),
        ("ContentIndexingJob", [1, "video"]),
        ("ReportGenerationJob", ["no_such_report", {}, 1]),
        ("EmailNotificationJob", ["too", "many", "arguments", "here", "now"]),
        ("PasswordResetJob", [["ada@example.com"]]),
    ],
)
def test_a_bad_message_reaching_a_worker_ends_at_once(celery_worker, name, args):
    sent = app.send_task(name, args=args, queue="default")  # no enqueue-time check
    job = wait_for_state(sent.id, State.FAILED, State.DISCARDED, timeout=60)
    assert job.attempts == 1
    assert job.error_message


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        ({"start_date": "2026-02-30", "end_date": "2026-03-02"}, "date"),
        ({"start_date": "2026-11-07", "end_date": "2026-11-01"}, "before"),
        ({"start_date": "2024-01-01", "end_date": "2026-11-01"}, "366"),
        ({"start_date": "2026-11-01", "end_date": "2026-11-02", "evil": 1}, "Unknown parameter"),
    ],
)
def test_bad_report_parameters_are_refused_at_enqueue(user, parameters, says):
    with pytest.raises(ValueError, match=says):
        ReportGenerationJob.delay("user_activity", parameters, user.pk)
    assert not Job.objects.exists()


def test_an_enqueue_binds_the_jobs_arguments_once(user, monkeypatch):
    """`run`'s signature is bound once per enqueue, whatever the job checks (it was bound
    five times for an email: the base check, the email's check, its queue, then again)."""
    import inspect

    from django.db import transaction

    binds = []
    bind = inspect.Signature.bind
    monkeypatch.setattr(
        inspect.Signature, "bind", lambda self, *a, **k: binds.append(1) or bind(self, *a, **k)
    )
    enqueues = [
        (EmailNotificationJob, [user.pk, "welcome"], {}),
        (EmailNotificationJob, [user.pk, "report_ready"], {"data": {"url": "/reports/1/"}}),
        (PasswordResetJob, ["ada@example.com"], {}),
        (ContentIndexingJob, [1, "post"], {}),
        (
            ReportGenerationJob,
            ["user_activity", {"start_date": "2026-11-01", "end_date": "2026-11-02"}, user.pk],
            {},
        ),
    ]
    counted = []
    for job, args, kwargs in enqueues:
        with transaction.atomic():
            binds.clear()
            job.apply_async(args, kwargs)
            counted.append(len(binds))
            transaction.set_rollback(True)  # nothing written, nothing published
    assert counted == [1] * len(enqueues)
