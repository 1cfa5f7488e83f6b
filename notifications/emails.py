"""Sending one notification email, exactly once per idempotency key: reserve → send → mark.

At send time everything is checked again (Discourse's UserEmail): the member may have
turned the type off, the content may be gone, the notification may be read. A skip is
recorded with its reason. A retried or redelivered job finds its key already sent and sends
nothing. The `sent` mark waits out a PostgreSQL restart of up to MARK_PATIENCE_SECONDS. A
crash between the SMTP send and the `sent` mark (or a longer outage) leaves the row
`sending`: the re-run of that job (same job id) sends again, so the worst case is one
repeated email.
"""

from __future__ import annotations

import contextlib
import json
import os
import smtplib
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import InterfaceError, OperationalError, connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from forum.models import User, url_template
from notifications import selectors
from notifications.models import DeliveryStatus, EmailDelivery, Notification, SkipReason
from notifications.redaction import redact, redact_headers
from notifications.types import RecipientUnavailable, kind_of


@dataclass(frozen=True)
class DeliveryOutcome:
    delivery_id: int
    status: str
    reason: str = ""


def send_notification_email(
    *,
    user_id: int,
    notification_type: str,
    content_id: int | None = None,
    data: dict | None = None,
    job_id: str = "",
) -> DeliveryOutcome:
    """Send (or skip, with a reason) one email. Raises RecipientUnavailable when the member
    is gone or deactivated; SMTP errors are recorded as `failed` and raised, for the job to
    retry. Four statements when it sends: emails are the busiest jobs."""
    kind = kind_of(notification_type)
    user = selectors.email_recipient(user_id=user_id)
    if user is None or not user.is_active:
        state = "no longer exists" if user is None else "is deactivated"
        raise RecipientUnavailable(f"user {user_id} {state}: no {notification_type} email")
    job_id = job_id or uuid.uuid4().hex  # a direct call is its own event
    key = idempotency_key(
        user_id=user.pk,
        notification_type=notification_type,
        content_id=content_id,
        job_id=job_id,
    )
    email = Email(user=user, notification_type=notification_type, data=data or {})
    email.prepare(content_id)
    if email.skip_reason is None:
        email.render(critical=kind.critical)
    row = _reserve(key, email, job_id)
    if row is None:  # sent or skipped already (a retry or redelivery), or held by another job
        done = EmailDelivery.objects.values_list("pk", "status", "reason").get(idempotency_key=key)
        return DeliveryOutcome(*done)
    status, reason = DeliveryStatus.SENT, ""
    if email.skip_reason is None:
        try:
            _send(email)
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            EmailDelivery.objects.filter(pk=row).update(
                status=DeliveryStatus.FAILED, reason=reason, updated_at=timezone.now()
            )
            raise
    else:
        status, reason = DeliveryStatus.SKIPPED, email.skip_reason_text
    _mark(row, status, reason, email.notification_id)
    return DeliveryOutcome(row, status, reason)


def idempotency_key(
    *, user_id: int, notification_type: str, content_id: int | None, job_id: str
) -> str:
    if content_id is not None:
        return f"{notification_type}:{user_id}:{content_id}"
    if kind_of(notification_type).per_event:
        return f"{notification_type}:{user_id}:job-{job_id}"
    return f"{notification_type}:{user_id}"


def absolute_url(path: str) -> str:
    return path if "://" in path else settings.SITE_URL.rstrip("/") + path


class Email:
    """One email being prepared: the checks, then the rendered parts."""

    def __init__(self, *, user: User, notification_type: str, data: dict) -> None:
        self.user, self.notification_type, self.data = user, notification_type, data
        self.to = user.email
        self.notification_id: int | None = None  # the in-app notification, if any
        self.skip_reason: SkipReason | None = None
        self.context: dict = {"user": user, "site_url": settings.SITE_URL, "data": data}
        self.subject = self.text = self.html = ""
        self.headers: dict[str, str] = {}
        self.secrets: list[str] = []  # tokens in the email: the log keeps it without them

    def prepare(self, content_id: int | None) -> None:
        """Re-check that the email is still wanted and gather what its templates show. The
        type's own checks run first even when the type is turned off: they find the in-app
        notification, which must stop collecting likes either way."""
        getattr(self, f"_prepare_{self.notification_type}")(content_id)
        if (
            not kind_of(self.notification_type).critical
            # email_types_off: added by selectors.email_recipient's raw SQL, unknown to User
            and self.notification_type in self.user.email_types_off  # type: ignore[attr-defined]
        ):
            self.skip_reason = SkipReason.PREFERENCE_OFF
        elif self.skip_reason is None and not self.to:
            self.skip_reason = SkipReason.NO_ADDRESS

    @property
    def skip_reason_text(self) -> str:
        return f"{self.skip_reason}: {self.skip_reason.label}" if self.skip_reason else ""

    def render(self, *, critical: bool) -> None:
        if not critical:
            path = selectors.unsubscribe_path(
                user_id=self.user.pk, notification_type=self.notification_type
            )
            self.secrets.append(path.rstrip("/").rsplit("/", 1)[-1])  # the signed token
            unsubscribe = absolute_url(path)
            self.headers = {
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",  # RFC 8058
            }
            self.context["unsubscribe_url"] = unsubscribe
            self.context["preferences_url"] = absolute_url(reverse("notifications:preferences"))
        name = f"notifications/emails/{self.notification_type}"
        self.subject = " ".join(render_to_string(f"{name}_subject.txt", self.context).split())
        self.text = render_to_string(f"{name}.txt", self.context)
        self.html = render_to_string(f"{name}.html", self.context)

    def log_copy(self) -> tuple[str, str, str, dict[str, str]]:
        """Subject, text, HTML and headers as the deliveries log keeps them: redacted."""
        return (
            redact(self.subject, secrets=self.secrets),
            redact(self.text, secrets=self.secrets),
            redact(self.html, secrets=self.secrets),
            redact_headers(self.headers, secrets=self.secrets),
        )

    # --- per type: set skip_reason, or fill the context ------------------------------------
    def _prepare_welcome(self, content_id: int | None) -> None:
        self.context["start_url"] = absolute_url(reverse("forum:index"))

    def _prepare_reminder(self, content_id: int | None) -> None:
        if selectors.has_posted(user=self.user):
            self.skip_reason = SkipReason.ALREADY_POSTED
        self.context["start_url"] = absolute_url(reverse("forum:index"))

    def _prepare_new_comment(self, content_id: int | None) -> None:
        comment = selectors.comment_for_email(comment_id=content_id, recipient_id=self.user.pk)
        self.notification_id = comment["notification_id"] if comment else None
        if comment is None or comment["hidden"]:
            self.skip_reason = SkipReason.CONTENT_DELETED
        elif comment["read"]:
            self.skip_reason = SkipReason.ALREADY_READ
        else:
            url = f"{url_template('forum:post', 987654321).format(comment['post_id'])}"
            self.context.update(comment=comment, url=absolute_url(f"{url}#comment-{content_id}"))

    def _prepare_new_like(self, content_id: int | None) -> None:
        notification = (
            Notification.objects.select_related("post", "actor", "comment")
            .filter(pk=content_id, recipient=self.user)
            .first()
            if content_id is not None
            else None  # what filter(pk=None) finds
        )
        self.notification_id = notification.pk if notification else None
        if (
            notification is None
            or notification.post is None
            or notification.post.is_hidden
            or (notification.comment is not None and notification.comment.is_hidden)
        ):
            self.skip_reason = SkipReason.CONTENT_DELETED
        elif notification.is_read:
            self.skip_reason = SkipReason.ALREADY_READ
        else:
            self.context.update(
                post=notification.post,
                count=notification.count,
                actor=notification.actor,
                url=absolute_url(notification.get_absolute_url()),
            )

    def _prepare_report_ready(self, content_id: int | None) -> None:
        self.context.update(
            title=self.data.get("title", "Your report"), error=self.data.get("error")
        )
        self.context["url"] = absolute_url(self.data["url"])

    def _prepare_security_alert(self, content_id: int | None) -> None:
        # An email change is announced to the old address: that is the one an intruder
        # who changed it cannot read.
        self.to = self.data.get("old_email") or self.user.email
        self.context.update(
            event=self.data.get("event", ""),
            reset_url=absolute_url(reverse("password_reset")),
        )

    def _prepare_password_reset(self, content_id: int | None) -> None:
        # Made now, in the worker: the token never sits in the job's arguments.
        uid = urlsafe_base64_encode(force_bytes(self.user.pk))
        token = default_token_generator.make_token(self.user)
        self.secrets.append(token)
        self.context["reset_url"] = absolute_url(
            reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})
        )


# --- reserve → send → mark --------------------------------------------------------------------

# The delivery log's writes commit without waiting for the WAL flush, as the job ledger's
# do (jobs/workerdb.py): a PostgreSQL crash — not a restart — may lose the last fraction of
# a second of them, and those jobs re-run and repeat their emails. One statement string, so
# SET LOCAL holds for its implicit transaction only.
_ASYNC_COMMIT = "SET LOCAL synchronous_commit = off;"

# Takes the key when it is new, failed before, held by this same job (a re-run after a
# crash), or abandoned by another job long ago; otherwise returns no row.
_RESERVE = """
    INSERT INTO notifications_emaildelivery AS d (idempotency_key, notification_type,
        user_id, notification_id, to_email, subject, body_text, body_html, headers, status,
        reason, job_id, attempts, created_at, updated_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, now(), now())
    ON CONFLICT (idempotency_key) DO UPDATE SET
        status = EXCLUDED.status, reason = EXCLUDED.reason, job_id = EXCLUDED.job_id,
        to_email = EXCLUDED.to_email, subject = EXCLUDED.subject,
        body_text = EXCLUDED.body_text, body_html = EXCLUDED.body_html,
        headers = EXCLUDED.headers, attempts = d.attempts + 1, updated_at = now()
    WHERE d.status = 'failed'
        OR (d.status = 'sending'
            AND (d.job_id = EXCLUDED.job_id OR d.updated_at < now() - interval '15 minutes'))
    RETURNING d.id
"""


def _reserve(key: str, email: Email, job_id: str) -> int | None:
    """Record the attempt before sending: `sending`, or `skipped` with its reason. The row
    holds the email's redacted copy (notifications.redaction), never its links' tokens."""
    status = DeliveryStatus.SKIPPED if email.skip_reason else DeliveryStatus.SENDING
    subject, text, html, headers = email.log_copy()
    with connection.cursor() as cursor:
        cursor.execute(
            _ASYNC_COMMIT + _RESERVE,
            [
                key,
                email.notification_type,
                email.user.pk,
                email.notification_id,
                email.to or "",
                subject[:255],
                text,
                html,
                json.dumps(headers),
                status,
                email.skip_reason_text,
                job_id,
            ],
        )
        cursor.nextset()  # past the SET's empty result
        row = cursor.fetchone()
    return row[0] if row else None


# The delivery's outcome and, in the same round trip, its notification: a like notification
# stops collecting likes once its email went out (or was skipped).
_MARK = """
    WITH delivery AS (
        UPDATE notifications_emaildelivery
        SET status = %(status)s, reason = %(reason)s, updated_at = now(),
            sent_at = CASE WHEN %(sent)s THEN now() END
        WHERE id = %(delivery)s
    )
    UPDATE notifications_notification
    SET email_pending = false, emailed_at = CASE WHEN %(sent)s THEN now() END
    WHERE id = %(notification)s
"""


# How long a `sent` mark waits for PostgreSQL to come back (a restart, a failover) before
# the job gives up and retries, which sends the email again.
MARK_PATIENCE_SECONDS = 30.0


def _mark(delivery_id: int, status: str, reason: str, notification_id: int | None) -> None:
    """Record the outcome. The email is out already: while PostgreSQL is away, try again on a
    new connection every second for MARK_PATIENCE_SECONDS rather than fail the job, whose
    retry would send the email a second time."""
    params: dict[str, str | int | bool | None] = {
        "status": status,
        "reason": reason,
        "sent": status == DeliveryStatus.SENT,
        "delivery": delivery_id,
        "notification": notification_id,
    }
    deadline = time.monotonic() + MARK_PATIENCE_SECONDS
    while True:
        try:
            with connection.cursor() as cursor:
                cursor.execute(_ASYNC_COMMIT + _MARK, params)
            return
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                raise
            connection.close()
            time.sleep(1)


def _send(email: Email) -> None:
    headers = {**email.headers, "X-Naija-Notification": email.notification_type}
    message = EmailMultiAlternatives(
        email.subject, email.text, settings.DEFAULT_FROM_EMAIL, [email.to], headers=headers
    )
    message.attach_alternative(email.html, "text/html")
    backend = _smtp.backend()
    try:
        backend.send_messages([message])
    except Exception:
        _smtp.discard()
        raise


# Connection-level failures: the mail server down or unreachable, not a refused message.
SERVER_DOWN_ERRORS = (
    "ConnectionRefusedError",
    "ConnectionResetError",
    "OSError",
    "SMTPConnectError",
    "SMTPServerDisconnected",
    "TimeoutError",
    "gaierror",
)
PROBE_TIMEOUT_SECONDS = 2.0


def mail_server_answers() -> bool:
    """EmailNotificationJob's retry probe: the SMTP server takes a connection and our greeting
    (EHLO, STARTTLS and login as configured), and we leave at once. No mail is sent."""
    backend = get_connection(timeout=PROBE_TIMEOUT_SECONDS)
    try:
        backend.open()
    except (OSError, smtplib.SMTPException):
        return False
    finally:
        with contextlib.suppress(Exception):
            backend.close()
    return True


class _ReusedConnection:
    """One SMTP connection per worker process, kept between jobs: a new one per email would
    cost a TCP and SMTP handshake each. Reopened after SMTP_IDLE_SECONDS or an error."""

    idle_seconds = 30.0
    conn: BaseEmailBackend | None
    pid: int | None

    def __init__(self) -> None:
        self.conn, self.pid, self.used = None, None, 0.0

    def backend(self) -> BaseEmailBackend:
        if not settings.EMAIL_BACKEND.endswith("smtp.EmailBackend"):
            return get_connection()  # console, locmem: nothing to keep open
        stale = time.monotonic() - self.used > self.idle_seconds
        if self.conn is None or self.pid != os.getpid() or stale:
            self.discard()
            self.conn, self.pid = get_connection(), os.getpid()
            self.conn.open()
        self.used = time.monotonic()
        return self.conn

    def discard(self) -> None:
        if self.conn is not None and self.pid == os.getpid():
            # Closing a broken connection may fail too; it is dropped either way.
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None


_smtp = _ReusedConnection()
