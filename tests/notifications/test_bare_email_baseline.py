"""bench/emails.py compares our new_comment email with a bare Celery task's: the ratio is fair
only if the bare task sends the same email (same templates, context, headers), less the work
it leaves out (ledger, delivery log, checks)."""

import re

import pytest
from django.core import mail, signing

from bench.bare_email import new_comment_email
from forum import services as forum
from tests.forum.factories import PostFactory
from tests.notifications.helpers import run_email_jobs

pytestmark = pytest.mark.django_db


def without_per_message_headers(message) -> bytes:
    """The message as sent, less what differs between any two sends: date, id, boundary."""
    lines = message.message().as_bytes().split(b"\n")
    kept = b"\n".join(line for line in lines if not line.startswith((b"Date:", b"Message-ID:")))
    return re.sub(rb"=+\d+==", b"(boundary)", kept)


def test_the_bare_baseline_sends_the_email_ours_sends(user, other_user, monkeypatch):
    # The unsubscribe token carries the second it was signed: the same for both sends.
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: "1tXyZ")
    post = PostFactory(author=user, title="Ẹ káàbọ̀ — jollof <b>wars</b>")
    body = 'Abeg, na Ghana jollof dey win. ₦500 & "more"\n\nTwo lines.'
    comment = forum.comment_create(post=post, author=other_user, body=body)
    run_email_jobs()
    new_comment_email(user.pk, "new_comment", comment.pk)
    ours, bare = mail.outbox
    assert (bare.subject, bare.body, bare.alternatives) == (
        ours.subject,
        ours.body,
        ours.alternatives,
    )
    assert (bare.to, bare.from_email, bare.extra_headers) == (
        ours.to,
        ours.from_email,
        ours.extra_headers,
    )
    assert without_per_message_headers(bare) == without_per_message_headers(ours)
