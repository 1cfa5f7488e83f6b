"""Sending one notification email, exactly once per idempotency key: reserve → send → mark.

At send time everything is checked again (Discourse's UserEmail): the member may have
turned the type off, the content may be gone, the notification may be read. A skip is
recorded with its reason. A retried or redelivered job finds its key already sent and sends
nothing. A crash between the SMTP send and the `sent` mark leaves the row `sending`: the
re-run of that job (same job id) sends again, so the worst case is one repeated email.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from forum.models import Comment, User
from notifications import selectors
from notifications.models import DeliveryStatus, EmailDelivery, Notification, SkipReason
from notifications.types import NotificationType, kind_of


def send_notification_email(
    *,
    user: User,
    notification_type: str,
    content_id: int | None = None,
    data: dict | None = None,
    job_id: str = "",
) -> EmailDelivery:
    """Send (or skip, with a reason) one email; returns its delivery row. SMTP errors are
    recorded as `failed` and raised, for the job to retry."""
    kind = kind_of(notification_type)
    job_id = job_id or uuid.uuid4().hex  # a direct call is its own event
    key = idempotency_key(
        user_id=user.pk, notification_type=notification_type, content_id=content_id,
        job_id=job_id,
    )  # fmt: skip
    done = EmailDelivery.objects.filter(
        idempotency_key=key, status__in=[DeliveryStatus.SENT, DeliveryStatus.SKIPPED]
    ).first()
    if done is not None:  # a retried or redelivered job: already dealt with
        return done
    email = Email(user=user, notification_type=notification_type, data=data or {})
    email.prepare(content_id)
    if email.skip_reason is None:
        email.render(critical=kind.critical)
    row = _reserve(key, email, job_id)
    if row is None:  # another job holds or finished this key
        return EmailDelivery.objects.get(idempotency_key=key)
    if email.skip_reason is None:
        try:
            _send(email)
        except Exception as error:
            _mark(row, DeliveryStatus.FAILED, reason=f"{type(error).__name__}: {error}")
            raise
        _mark(row, DeliveryStatus.SENT)
    if email.notification is not None:  # the next like opens a new notification
        sent = email.skip_reason is None
        Notification.objects.filter(pk=email.notification.pk).update(
            email_pending=False, emailed_at=timezone.now() if sent else None
        )
    return EmailDelivery.objects.get(pk=row)


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
        self.notification: Notification | None = None
        self.skip_reason: SkipReason | None = None
        self.context: dict = {"user": user, "site_url": settings.SITE_URL, "data": data}
        self.subject = self.text = self.html = ""
        self.headers: dict[str, str] = {}

    def prepare(self, content_id: int | None) -> None:
        """Re-check that the email is still wanted and gather what its templates show."""
        if not kind_of(self.notification_type).critical and not selectors.email_wanted(
            user=self.user, notification_type=self.notification_type
        ):
            self.skip_reason = SkipReason.PREFERENCE_OFF
            return
        getattr(self, f"_prepare_{self.notification_type}")(content_id)
        if self.skip_reason is None and not self.to:
            self.skip_reason = SkipReason.NO_ADDRESS

    def render(self, *, critical: bool) -> None:
        if not critical:
            unsubscribe = absolute_url(
                selectors.unsubscribe_path(
                    user_id=self.user.pk, notification_type=self.notification_type
                )
            )
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

    # --- per type: set skip_reason, or fill the context ------------------------------------
    def _prepare_welcome(self, content_id: int | None) -> None:
        self.context["start_url"] = absolute_url(reverse("forum:index"))

    def _prepare_reminder(self, content_id: int | None) -> None:
        if selectors.has_posted(user=self.user):
            self.skip_reason = SkipReason.ALREADY_POSTED
        self.context["start_url"] = absolute_url(reverse("forum:index"))

    def _prepare_new_comment(self, content_id: int | None) -> None:
        comment = Comment.objects.select_related("post", "author").filter(pk=content_id).first()
        self.notification = Notification.objects.filter(
            recipient=self.user, notification_type=NotificationType.NEW_COMMENT,
            comment_id=content_id,
        ).first()  # fmt: skip
        if comment is None or comment.is_hidden or comment.post.is_hidden:
            self.skip_reason = SkipReason.CONTENT_DELETED
        elif self.notification is not None and self.notification.is_read:
            self.skip_reason = SkipReason.ALREADY_READ
        else:
            self.context.update(
                comment=comment, post=comment.post, url=absolute_url(comment.get_absolute_url())
            )

    def _prepare_new_like(self, content_id: int | None) -> None:
        self.notification = (
            Notification.objects.select_related("post", "actor")
            .filter(pk=content_id, recipient=self.user)
            .first()
        )
        notification = self.notification
        if notification is None or notification.post is None or notification.post.is_hidden:
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
        self.context["reset_url"] = absolute_url(
            reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})
        )


# --- reserve → send → mark --------------------------------------------------------------------

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
    """Record the attempt before sending: `sending`, or `skipped` with its reason."""
    status = DeliveryStatus.SKIPPED if email.skip_reason else DeliveryStatus.SENDING
    reason = email.skip_reason.label if email.skip_reason else ""
    with connection.cursor() as cursor:
        cursor.execute(
            _RESERVE,
            [
                key, email.notification_type, email.user.pk,
                email.notification.pk if email.notification else None, email.to or "",
                email.subject[:255], email.text, email.html, json.dumps(email.headers),
                status, f"{email.skip_reason}: {reason}" if reason else "", job_id,
            ],
        )  # fmt: skip
        row = cursor.fetchone()
    return row[0] if row else None


def _mark(delivery_id: int, status: DeliveryStatus, *, reason: str = "") -> None:
    now = timezone.now()
    EmailDelivery.objects.filter(pk=delivery_id).update(
        status=status,
        reason=reason,
        updated_at=now,
        sent_at=now if status == DeliveryStatus.SENT else None,
    )


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


class _ReusedConnection:
    """One SMTP connection per worker process, kept between jobs: a new one per email would
    cost a TCP and SMTP handshake each. Reopened after SMTP_IDLE_SECONDS or an error."""

    idle_seconds = 30.0

    def __init__(self) -> None:
        self.conn, self.pid, self.used = None, None, 0.0

    def backend(self):
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
