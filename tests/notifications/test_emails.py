"""What each email says, and when it is not sent: the send-time checks, run inline."""

import re
from datetime import timedelta

import psycopg
import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.prepared import PREPARE_THRESHOLD
from forum import services as forum
from forum.models import User
from jobs.models import Job
from notifications import selectors, services
from notifications.emails import send_notification_email
from notifications.models import EmailDelivery, Notification
from tests.forum.factories import CommentFactory, PostFactory, UserFactory
from tests.notifications.helpers import email_jobs, run_email_jobs

pytestmark = pytest.mark.django_db


def delivery_for(user, notification_type) -> EmailDelivery:
    return EmailDelivery.objects.get(user=user, notification_type=notification_type)


def test_new_comment_email_links_to_the_comment_and_can_be_unsubscribed(user, other_user):
    post = PostFactory(author=user, title="Best suya spot in Abuja?")
    comment = forum.comment_create(post=post, author=other_user, body="Try Wuse market.")
    run_email_jobs()
    [message] = mail.outbox
    assert message.to == [user.email]
    assert message.subject == f"{other_user.name} commented on “Best suya spot in Abuja?”"
    assert "Try Wuse market." in message.body
    assert f"http://127.0.0.1:8000/p/{post.pk}/#comment-{comment.pk}" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "Try Wuse market." in html
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(r"<(.+)>", message.extra_headers["List-Unsubscribe"]).group(1)
    assert unsubscribe in message.body and unsubscribe in html
    assert delivery_for(user, "new_comment").status == "sent"


def test_commenting_on_your_own_post_tells_nobody(user):
    post = PostFactory(author=user)
    forum.comment_create(post=post, author=user, body="Bumping my own topic.")
    assert run_email_jobs() == [] and mail.outbox == []
    assert not Notification.objects.exists()


def test_turned_off_type_is_skipped_with_the_reason(user, other_user):
    services.email_preferences_set(user=user, enabled={"new_comment": False})
    forum.comment_create(post=PostFactory(author=user), author=other_user, body="Hello")
    run_email_jobs()
    assert mail.outbox == []
    delivery = delivery_for(user, "new_comment")
    assert (delivery.status, delivery.reason) == (
        "skipped",
        "preference_off: the member turned this email off",
    )


@pytest.mark.parametrize("how", ["deleted", "hidden"])
def test_comment_gone_before_the_send_is_skipped(user, other_user, moderator, admin, how):
    comment = forum.comment_create(post=PostFactory(author=user), author=other_user, body="Spam")
    job = email_jobs("new_comment")[0]
    if how == "deleted":
        forum.comment_delete(comment=comment, actor=admin)
    else:
        forum.comment_set_hidden(comment=comment, moderator=moderator, hidden=True)
    run_email_jobs()
    assert mail.outbox == []
    assert delivery_for(user, "new_comment").reason.startswith("content_deleted")
    assert job.args == [user.pk, "new_comment", comment.pk]


def test_a_like_of_a_comment_hidden_before_the_send_is_skipped(user, other_user, moderator):
    comment = forum.comment_create(post=PostFactory(), author=user, body="Off-topic")
    forum.comment_like(comment=comment, user=other_user)
    forum.comment_set_hidden(comment=comment, moderator=moderator, hidden=True)
    run_email_jobs()
    assert mail.outbox == []
    assert delivery_for(user, "new_like").reason.startswith("content_deleted")


def test_comment_already_read_in_the_app_is_not_emailed(user, other_user):
    forum.comment_create(post=PostFactory(author=user), author=other_user, body="Hello")
    services.notifications_mark_all_read(user=user)
    run_email_jobs()
    assert mail.outbox == []
    assert delivery_for(user, "new_comment").reason.startswith("already_read")


def test_welcome_now_and_a_reminder_an_hour_later_unless_the_member_posted(board):
    user = forum.user_create(username="amaka", email="amaka@example.com", password="a-long-pass-99")
    welcome, reminder = email_jobs()
    assert welcome.args == [user.pk, "welcome"] and welcome.state == "ready"
    assert reminder.args == [user.pk, "reminder"] and reminder.state == "scheduled"
    delay = reminder.scheduled_at - welcome.scheduled_at
    assert timedelta(minutes=59) < delay < timedelta(minutes=61)
    forum.post_create(author=user, board=board, title="Hello all", body="First post!")
    run_email_jobs()
    assert [m.subject for m in mail.outbox] == ["Welcome to Naija-Forum, amaka!"]
    assert delivery_for(user, "reminder").reason.startswith("already_posted")


def test_reminder_is_sent_to_a_member_who_has_not_posted(user):
    send_notification_email(user_id=user.pk, notification_type="reminder")
    assert mail.outbox[0].subject == "Your first post on Naija-Forum is waiting"


def test_the_same_email_is_sent_once_however_often_the_job_runs(user, other_user):
    comment = forum.comment_create(post=PostFactory(author=user), author=other_user, body="Hi")
    for job_id in ("job-1", "job-1", "job-2"):  # a retry, a redelivery, a duplicate enqueue
        send_notification_email(
            user_id=user.pk, notification_type="new_comment", content_id=comment.pk, job_id=job_id
        )
    assert len(mail.outbox) == 1
    assert EmailDelivery.objects.get().attempts == 1


def test_security_alert_ignores_preferences_and_has_no_unsubscribe(user):
    services.email_preferences_set(user=user, enabled=dict.fromkeys(services.OPTIONAL_TYPES, False))
    services.notify_security_event(user=user, event="password_changed")
    [job] = email_jobs("security_alert")
    assert job.queue == "high_priority"
    run_email_jobs()
    [message] = mail.outbox
    assert message.subject == "Your Naija-Forum password was changed"
    assert "List-Unsubscribe" not in message.extra_headers
    assert "Unsubscribe" not in message.body
    assert "/accounts/password_reset/" in message.body


def test_each_security_event_gets_its_own_email(user):
    for _ in range(2):
        services.notify_security_event(user=user, event="password_changed")
    run_email_jobs()
    assert len(mail.outbox) == 2


def test_email_change_alert_goes_to_the_old_address(user):
    old = user.email
    forum.user_change_email(
        user=user, new_email="new@example.com", password="correct horse battery staple"
    )
    run_email_jobs()
    [message] = mail.outbox
    assert message.to == [old]
    assert "new@example.com" in message.body and message.subject.endswith(
        "email address was changed"
    )


def test_report_ready_links_to_the_report(user):
    services.notify_report_ready(user=user, report_id=7, title="User activity", url="/reports/7/")
    run_email_jobs()
    [message] = mail.outbox
    assert message.subject == "Your report is ready: User activity"
    assert "http://127.0.0.1:8000/reports/7/" in message.body


def test_likes_coalesce_into_one_email_an_hour_saying_how_many(user, board):
    post = PostFactory(author=user, board=board, title="Jollof wars")
    likers = UserFactory.create_batch(3)
    forum.post_like(post=post, user=likers[0])
    forum.comment_like(comment=CommentFactory(post=post, author=user), user=likers[1])
    [notification] = Notification.objects.filter(notification_type="new_like")
    assert notification.count == 2
    run_email_jobs()
    [message] = mail.outbox
    assert message.subject == "2 people liked what you wrote in “Jollof wars”"
    sent_at = delivery_for(user, "new_like").sent_at

    forum.post_like(post=post, user=likers[2])  # within the hour: waits for the next window
    [later] = [job for job in email_jobs("new_like") if job.state == "scheduled"]
    assert later.scheduled_at >= sent_at + timedelta(hours=1)
    assert Notification.objects.filter(notification_type="new_like").count() == 2


def test_liking_your_own_post_tells_nobody(user):
    forum.post_like(post=PostFactory(author=user), user=user)
    assert not Notification.objects.exists() and email_jobs() == []


def test_like_notification_read_before_the_email_is_skipped(user, other_user):
    forum.post_like(post=PostFactory(author=user), user=other_user)
    services.notifications_mark_all_read(user=user)
    run_email_jobs()
    assert mail.outbox == []
    assert delivery_for(user, "new_like").reason.startswith("already_read")


def test_likes_with_the_email_turned_off_still_show_in_the_app(user, other_user, board):
    services.email_preferences_set(user=user, enabled={"new_like": False})
    post = PostFactory(author=user, board=board)
    forum.post_like(post=post, user=other_user)
    run_email_jobs()
    assert mail.outbox == []
    assert delivery_for(user, "new_like").reason.startswith("preference_off")
    forum.post_like(post=post, user=UserFactory())  # a new window: its own notification and job
    assert [n.count for n in Notification.objects.order_by("pk")] == [1, 1]
    assert len(email_jobs("new_like")) == 2


def test_member_without_an_address_is_skipped(user):
    User.objects.filter(pk=user.pk).update(email="")
    send_notification_email(user_id=user.pk, notification_type="welcome")
    assert mail.outbox == []
    assert delivery_for(user, "welcome").reason == "no_address: the member has no email address"


def test_unknown_type_is_refused_at_enqueue_naming_the_valid_ones(user):
    from notifications.tasks import EmailNotificationJob

    with pytest.raises(
        ValueError, match="Unknown notification_type 'birthday': use one of welcome"
    ):
        EmailNotificationJob.delay(user.pk, "birthday")
    with pytest.raises(ValueError, match="report_ready needs data"):
        EmailNotificationJob.delay(user.pk, "report_ready", 1)
    assert not Job.objects.exists()


def test_password_reset_email_comes_from_the_job_with_a_working_link(client, user):
    response = client.post("/accounts/password_reset/", {"email": user.email.upper()})
    assert response.status_code == 302 and mail.outbox == []  # nothing sent in the request
    request = Job.objects.get(class_name="PasswordResetJob")
    assert request.queue == "high_priority" and request.args == [user.email.upper()]
    run_email_jobs()
    [job] = email_jobs("password_reset")
    assert job.queue == "high_priority" and "token" not in str(job.args)
    link = re.search(r"http://127.0.0.1:8000(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link).url
    client.post(form_url, {"new_password1": "reset-pass-2026", "new_password2": "reset-pass-2026"})
    user.refresh_from_db()
    assert user.check_password("reset-pass-2026")
    assert email_jobs("security_alert"), "a reset is a password change: the member is told"


def test_a_failed_report_says_why_and_links_to_the_report(user):
    services.notify_report_ready(
        user=user,
        report_id=8,
        title="Board activity",
        url="/reports/8/",
        error="The report took longer than the 30-minute limit and was stopped.",
    )
    run_email_jobs()
    [message] = mail.outbox
    assert message.subject == "Your report failed: Board activity"
    assert "could not be built: The report took longer than the 30-minute limit" in message.body
    assert "http://127.0.0.1:8000/reports/8/" in message.body


@pytest.mark.django_db(transaction=True)
def test_outside_debug_the_email_reads_are_prepared_and_read_the_same(settings, user, other_user):
    """Production (DEBUG off, no query log; pytest-django runs tests so too): the recipient
    and comment reads run as prepared statements on Django's connection (config.prepared) and
    find what the ORM finds."""
    settings.DEBUG = False
    post = PostFactory(author=user, title="Prepared ọ̀rọ̀")
    comment = forum.comment_create(post=post, author=other_user, body="Na so.")
    services.email_preferences_set(user=user, enabled={"new_like": False})
    try:
        for _ in range(PREPARE_THRESHOLD + 1):
            recipient = selectors.email_recipient(user_id=user.pk)
            shown = selectors.comment_for_email(comment_id=comment.pk, recipient_id=user.pk)
        assert recipient == user and recipient.email == user.email
        assert recipient.email_types_off == ["new_like"]
        assert recipient.date_joined == User.objects.get(pk=user.pk).date_joined
        assert shown["post_title"] == "Prepared ọ̀rọ̀" and shown["author_name"] == other_user.name
        assert selectors.email_recipient(user_id=user.pk + 1000) is None
        assert selectors.comment_for_email(comment_id=None, recipient_id=user.pk) is None
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            prepared = " ".join(statement for (statement,) in cursor.fetchall())
        assert "FROM forum_user u" in prepared and "FROM forum_comment c" in prepared
        run_email_jobs()
        [message] = mail.outbox
        assert message.to == [user.email] and "Na so." in message.body
        assert delivery_for(user, "new_comment").status == "sent"
    finally:
        connection.close()  # the prepared statements go with the session


def test_where_queries_are_logged_the_email_reads_show_their_sql(user):
    """DEBUG, or a test counting queries: the reads take Django's own cursor, whose log
    shows the SQL (Django cannot render a server-bound statement)."""
    with CaptureQueriesContext(connection) as queries:
        assert selectors.email_recipient(user_id=user.pk) == user
    assert f"WHERE u.id = {user.pk}" in queries.captured_queries[-1]["sql"]


@pytest.mark.django_db(transaction=True)
def test_a_migration_changing_a_returned_column_does_not_break_the_prepared_reads(user):
    """PostgreSQL refuses a prepared statement once a column it returns changed type on
    another connection ("cached plan must not change result type"), on that connection for
    good: config.prepared drops the session's statements and runs it again."""
    for _ in range(PREPARE_THRESHOLD + 1):
        selectors.email_recipient(user_id=user.pk)
    params = connection.get_connection_params()
    params = {k: v for k, v in params.items() if k not in ("cursor_factory", "context")}
    try:
        with psycopg.connect(**params, autocommit=True) as migration:
            migration.execute("ALTER TABLE forum_user ALTER COLUMN display_name TYPE varchar(60)")
        assert selectors.email_recipient(user_id=user.pk) == user
        assert selectors.email_recipient(user_id=user.pk).display_name == user.display_name
    finally:
        connection.close()
        with psycopg.connect(**params, autocommit=True) as migration:
            migration.execute("ALTER TABLE forum_user ALTER COLUMN display_name TYPE varchar(50)")
