"""EmailNotificationJob end to end: a real worker process sends to a real SMTP server."""

from datetime import timedelta
from urllib.parse import urlsplit

import psycopg
import pytest
from django.test import Client
from django.utils import timezone

from config.celery import app
from devtools.mailsink import MailSink
from forum import services as forum
from jobs.base import publish
from jobs.models import Job
from notifications import services
from notifications.models import EmailDelivery, EmailPreference
from notifications.tasks import EmailNotificationJob
from tests.conftest import PASSWORD
from tests.forum.factories import PostFactory, UserFactory
from tests.jobs.helpers import wait_for, wait_for_state

pytestmark = pytest.mark.worker


def test_welcome_email_arrives_by_smtp_with_both_parts_and_a_working_unsubscribe(
    mail_worker, smtp_server
):
    user = forum.user_create(username="chidi", email="chidi@example.com", password="a-long-pass-99")
    wait_for(lambda: smtp_server.received, message="the welcome email")
    [message] = smtp_server.messages
    assert message["To"] == "chidi@example.com"
    assert message["From"] == "Naija-Forum <no-reply@naija-forum.test>"
    assert message["Subject"] == "Welcome to Naija-Forum, chidi!"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Your account chidi is ready" in text and "<strong>chidi</strong>" in html
    unsubscribe = message["List-Unsubscribe"].strip().strip("<>")
    assert unsubscribe in text

    anonymous = Client()  # the link works logged out; GET only asks
    path = urlsplit(unsubscribe).path
    assert "Welcome email after sign-up" in anonymous.get(path).content.decode()
    assert not EmailPreference.objects.exists()
    response = anonymous.post(path, {"List-Unsubscribe": "One-Click"})  # what a mail client sends
    assert "You are unsubscribed" in response.content.decode()
    assert EmailPreference.objects.get(user=user).enabled is False
    # Marked sent once the server's reply reached the worker, just after the sink had it.
    sent = EmailDelivery.objects.filter(user=user, notification_type="welcome", status="sent")
    wait_for(sent.exists, message="the delivery marked sent")


def _alert_waiting_for(sink: MailSink, processes, user) -> Job:
    """A security alert whose first send found `sink` not listening: waiting for its retry.
    The worker and the dispatcher (retries, and its retry probe) both use `sink`."""
    processes.worker(env={"EMAIL_URL": sink.url})
    processes.dispatcher(env={"EMAIL_URL": sink.url})
    services.notify_security_event(user=user, event="password_changed")
    job = Job.objects.get(class_name="EmailNotificationJob")
    return wait_for_state(job.pk, "scheduled", timeout=30)


def _delivered_once_listening(sink: MailSink, job: Job, *, timeout: float) -> Job:
    """Start `sink`, wait for the job to finish and the alert to arrive; the finished job."""
    sink.start()
    try:
        done = wait_for_state(job.pk, "finished", timeout=timeout)
        wait_for(lambda: sink.received, message="the delivered alert")
    finally:
        sink.stop()
    return done


def test_smtp_server_down_then_up_delivers_once_after_retries(processes, user):
    sink = MailSink()  # not listening yet
    failed = _alert_waiting_for(sink, processes, user)
    assert failed.attempts == 1 and failed.error_class == "ConnectionRefusedError"
    assert EmailDelivery.objects.get().status == "failed"
    done = _delivered_once_listening(sink, failed, timeout=60)
    assert done.attempts >= 2
    assert [m["Subject"] for m in sink.messages] == ["Your Naija-Forum password was changed"]
    delivery = EmailDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("sent", done.attempts)


def test_emails_waiting_on_a_down_mail_server_go_out_as_soon_as_it_answers(processes, user):
    """The dispatcher probes the mail server while emails wait for a retry after it was down:
    once it answers they go out at once, not at the end of their back-off (here an hour)."""
    sink = MailSink()  # not listening yet
    job = _alert_waiting_for(sink, processes, user)
    in_an_hour = timezone.now() + timedelta(hours=1)
    Job.objects.filter(pk=job.pk).update(scheduled_at=in_an_hour)  # as a late attempt would be
    refused = Job.objects.create(  # a retry after the server refused a message: not released
        class_name="EmailNotificationJob",
        queue="high_priority",
        state="scheduled",
        args=[user.pk, "security_alert"],
        attempts=1,
        max_attempts=5,
        error_class="SMTPRecipientsRefused",
        scheduled_at=in_an_hour,
    )
    done = _delivered_once_listening(sink, job, timeout=30)
    assert done.attempts == 2
    assert [m["Subject"] for m in sink.messages] == ["Your Naija-Forum password was changed"]
    refused.refresh_from_db()
    assert (refused.state, refused.scheduled_at) == ("scheduled", in_an_hour)


def test_emails_outlast_a_two_minute_smtp_outage_before_failing():
    task = EmailNotificationJob
    waits = [task.retry_delay(attempt, rand=0.0) for attempt in range(1, task.max_attempts)]
    assert sum(waits) >= 120


def test_a_job_delivered_twice_or_enqueued_twice_sends_one_email(
    mail_worker, smtp_server, user, other_user
):
    comment = forum.comment_create(post=PostFactory(author=user), author=other_user, body="Hi!")
    job = Job.objects.get(class_name="EmailNotificationJob")
    wait_for_state(job.pk, "finished")
    # A redelivery, as after a worker lost before its outcome was written: the job runs again.
    Job.objects.filter(pk=job.pk).update(state="ready")
    publish([job])
    assert wait_for_state(job.pk, "finished").attempts == 2
    duplicate = EmailNotificationJob.delay(user.pk, "new_comment", comment.pk)
    wait_for_state(duplicate.id, "finished")
    assert len(smtp_server.received) == 1
    assert EmailDelivery.objects.get().attempts == 1


def test_postgresql_restarting_between_the_send_and_the_sent_mark_sends_one_email(
    processes, smtp_server, user, other_user
):
    """The sink holds its reply while every connection of the worker is cut, as a restart
    would: the mark waits for PostgreSQL instead of failing the job, whose retry would send
    the email again."""
    processes.worker(env={"EMAIL_URL": smtp_server.url, "PGAPPNAME": WORKER_APP})
    processes.dispatcher()
    smtp_server.before_accept = cut_worker_connections_once()
    forum.comment_create(post=PostFactory(author=user), author=other_user, body="Hi!")
    job = wait_for_state(Job.objects.get(class_name="EmailNotificationJob").pk, "finished")
    assert job.attempts == 1
    assert len(smtp_server.received) == 1
    assert EmailDelivery.objects.get().status == "sent"


WORKER_APP = "naija-test-mail-worker"


def cut_worker_connections_once():
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    done = []

    def cut(_raw: bytes) -> None:
        if done:
            return
        done.append(True)
        with psycopg.connect(**params, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                [WORKER_APP],
            )

    return cut


def test_unknown_type_reaching_a_worker_is_discarded_with_the_reason(
    mail_worker, smtp_server, user
):
    result = app.send_task("EmailNotificationJob", [user.pk, "birthday"], queue="default")
    job = wait_for_state(result.id, "discarded")
    assert job.attempts == 1 and job.error_class == "UnknownNotificationType"
    assert job.error_message.startswith("Unknown notification_type 'birthday': use one of welcome")
    assert smtp_server.received == []


def test_gone_or_deactivated_member_is_discarded_with_the_reason(mail_worker, smtp_server, user):
    user.is_active = False
    user.save()
    inactive = wait_for_state(EmailNotificationJob.delay(user.pk, "welcome").id, "discarded")
    gone = wait_for_state(EmailNotificationJob.delay(987654, "welcome").id, "discarded")
    assert inactive.error_message == f"user {user.pk} is deactivated: no welcome email"
    assert gone.error_message == "user 987654 no longer exists: no welcome email"
    assert smtp_server.received == [] and not EmailDelivery.objects.exists()


def test_requests_never_open_an_smtp_connection_the_worker_sends(
    processes, smtp_server, settings, client, user
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    author = UserFactory()
    post = PostFactory(author=author)
    client.force_login(user)
    assert client.post(f"/p/{post.pk}/comment/", {"body": "Nice one"}).status_code == 302
    assert client.post(f"/p/{post.pk}/like/").status_code == 302
    new_password = {"new_password1": "pass-word-2026", "new_password2": "pass-word-2026"}
    response = client.post("/accounts/password_change/", {"old_password": PASSWORD, **new_password})
    assert response.status_code == 302
    client.logout()
    assert client.post("/accounts/password_reset/", {"email": author.email}).status_code == 302
    assert smtp_server.sessions == 0
    assert Job.objects.filter(class_name="EmailNotificationJob").count() == 3
    assert Job.objects.filter(class_name="PasswordResetJob").count() == 1  # it queues the 4th

    processes.worker(env={"EMAIL_URL": smtp_server.url})
    wait_for(lambda: len(smtp_server.received) == 4, message="four emails from the worker")
    subjects = sorted(m["Subject"].strip() for m in smtp_server.messages)  # may be folded
    assert subjects == sorted(
        [
            f"{user.name} commented on “{post.title}”",
            f"{user.name} liked what you wrote in “{post.title}”",
            "Your Naija-Forum password was changed",
            "Reset your Naija-Forum password",
        ]
    )
