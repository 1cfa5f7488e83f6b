"""Bare Celery for bench/emails.py, the baseline of issue 21: the new_comment email as a stock
Celery + Django app would send it. A minimal Celery app (kombu's own Redis transport, no
result backend, acks_late as our jobs, Celery's default log level), Django set up for the
ORM, templates and mail (our settings; one database connection kept per process); the task reads the
recipient and the comment with the ORM, renders the same templates with the same context
(unsubscribe link and headers included), and sends the same EmailMultiAlternatives over one
SMTP connection kept per pool process. No ledger, no delivery row, no preferences or
read/hidden checks. Never tune it: the ratio is only fair against what a stock app does.
tests/notifications/test_bare_email_baseline.py checks that it sends the email ours sends."""

from __future__ import annotations

import os

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.mail import EmailMultiAlternatives, get_connection  # noqa: E402
from django.template.loader import render_to_string  # noqa: E402
from django.urls import reverse  # noqa: E402

from forum.models import Comment, User  # noqa: E402
from notifications.tokens import make_unsubscribe_token  # noqa: E402

# Without Celery's Django fixup: it closes the database connection before and after every
# task (celery/fixups/django.py, unless CELERY_DB_REUSE_MAX), so each email would pay a new
# PostgreSQL backend — 84 emails/s against 129 for ours on one run. The baseline keeps one
# connection per pool process, as ours does: the ratio is measured against the lean app.
app = Celery("bare-email", broker=os.environ["REDIS_URL"], fixups=[], set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_default_queue="default",
)
_smtp = {}  # pid → the SMTP backend this pool process keeps open


@app.task(name="bench.bare_new_comment_email", acks_late=True, reject_on_worker_lost=True)
def new_comment_email(user_id: int, notification_type: str, comment_id: int) -> None:
    user = User.objects.get(pk=user_id)
    comment = Comment.objects.select_related("post", "author").get(pk=comment_id)
    site = settings.SITE_URL.rstrip("/")
    token = make_unsubscribe_token(user_id=user.pk, notification_type=notification_type)
    unsubscribe = site + reverse("notifications:unsubscribe", args=[token])
    context = {
        "user": user,
        "site_url": settings.SITE_URL,
        "data": {},
        "unsubscribe_url": unsubscribe,
        "preferences_url": site + reverse("notifications:preferences"),
        "comment": {
            "body": comment.body,
            "post_title": comment.post.title,
            "author_name": comment.author.name,
        },
        "url": site + comment.get_absolute_url(),
    }
    name = f"notifications/emails/{notification_type}"
    subject = " ".join(render_to_string(f"{name}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject,
        render_to_string(f"{name}.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Naija-Notification": notification_type,
        },
    )
    message.attach_alternative(render_to_string(f"{name}.html", context), "text/html")
    connection = _smtp.get(os.getpid())
    if connection is None:
        connection = _smtp[os.getpid()] = get_connection()
        connection.open()
    connection.send_messages([message])
