"""The deliveries log keeps no usable secret, and only readers with the permission see it."""

import json
import random
import re
from urllib.parse import quote, urlsplit

import pytest
from django.core import mail
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from notifications import redaction
from notifications.models import EmailDelivery
from notifications.redaction import redact
from notifications.tokens import make_unsubscribe_token
from tests.forum.factories import UserFactory
from tests.notifications.helpers import mail_reader, run_email_jobs

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "taken-over-2026"
RESET_LINK = re.compile(r"https?://[^/\s]+(/accounts/reset/([^/\s]+)/([^/\s]+)/)")


def stored_row(delivery: EmailDelivery) -> str:
    """Every column of the row as the database has it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM notifications_emaildelivery WHERE id = %s", [delivery.pk])
        return json.dumps([str(value) for value in cursor.fetchone()])


def test_a_moderator_cannot_read_a_reset_email_and_a_reader_finds_no_usable_link(client):
    admin = UserFactory(is_staff=True, is_superuser=True)
    Client().post("/accounts/password_reset/", {"email": admin.email})
    run_email_jobs()
    [email] = mail.outbox
    real_path, _, token = RESET_LINK.search(email.body).groups()
    delivery = EmailDelivery.objects.get(user=admin, notification_type="password_reset")

    client.force_login(UserFactory(is_staff=True))  # a moderator: staff, no permission
    assert client.get("/notifications/deliveries/").status_code == 403
    assert client.get(f"/notifications/deliveries/{delivery.pk}/").status_code == 403
    assert (
        client.get(f"/admin/notifications/emaildelivery/{delivery.pk}/change/").status_code == 403
    )

    client.force_login(mail_reader())
    listing = client.get("/notifications/deliveries/")
    assert listing.status_code == 200 and admin.email in listing.content.decode()
    pages = [
        client.get(f"/notifications/deliveries/{delivery.pk}/").content.decode(),
        client.get(f"/admin/notifications/emaildelivery/{delivery.pk}/change/").content.decode(),
    ]
    assert "Choose a new password" in pages[0] and "/accounts/reset/[redacted]/" in pages[0]
    hmac = token.split("-")[1]
    for seen in [*pages, stored_row(delivery)]:
        assert token not in seen and hmac not in seen
    shown = re.findall(r"/accounts/reset/[^\s\"'<&]+", pages[0])
    attacker = Client()
    for path in shown:  # what the page shows leads nowhere
        form = attacker.get(path, follow=True).content.decode()
        assert "new_password1" not in form

    member = Client()  # the member's own email still resets the password
    form_url = member.get(real_path).url
    member.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    admin.refresh_from_db()
    assert admin.check_password(NEW_PASSWORD)


def test_unsubscribe_tokens_are_kept_out_of_the_log_but_work_in_the_email(client, user):
    from notifications.tasks import EmailNotificationJob

    EmailNotificationJob.delay(user.pk, "welcome")
    run_email_jobs()
    [email] = mail.outbox
    link = email.extra_headers["List-Unsubscribe"].strip("<>")
    token = urlsplit(link).path.rstrip("/").rsplit("/", 1)[-1]
    delivery = EmailDelivery.objects.get(user=user, notification_type="welcome")
    assert delivery.headers["List-Unsubscribe"].endswith("/notifications/unsubscribe/[redacted]/>")

    client.force_login(mail_reader())
    page = client.get(f"/notifications/deliveries/{delivery.pk}/").content.decode()
    signature = token.rsplit(":", 1)[-1]
    for seen in (page, stored_row(delivery)):
        assert token not in seen and signature not in seen and "Unsubscribe" in seen

    response = Client().post(urlsplit(link).path)  # the member's link works, logged out
    assert "You are unsubscribed" in response.content.decode()


TOKEN = "cx8n2a-0123456789abcdef0123456789abcdef"


def signed() -> str:
    return make_unsubscribe_token(user_id=7, notification_type="new_comment")


@pytest.mark.parametrize(
    "spelling",
    [
        lambda: f"http://127.0.0.1:8000/accounts/reset/Nw/{TOKEN}/",
        lambda: f"HTTPS://Forum.Example/accounts/reset/Nw/{TOKEN}/",
        lambda: f"//forum.example/accounts/reset/Nw/{TOKEN}/",  # scheme-relative
        lambda: f"/accounts/reset/Nw/{TOKEN}",  # relative, no trailing slash
        lambda: f'<a href="/accounts/reset/Nw/{TOKEN}/">reset</a>',
        lambda: f"next=%2Faccounts%2Freset%2FNw%2F{TOKEN}%2F",  # percent-encoded path
        lambda: f"your code: {TOKEN}.",  # a bare token
        lambda: f"<https://f.example/notifications/unsubscribe/{signed()}/>",
        lambda: f"/notifications/unsubscribe/{quote(signed(), safe='')}/",  # %3A colons
        lambda: f"token {signed()}",  # a bare signed value
        lambda: f"https://f.example/confirm?user=7&token={TOKEN}&next=/",
        lambda: f"https://f.example/confirm#sig={signed()}",
        lambda: f"ref:{signed()}",  # glued to a word and a colon
        lambda: f"({signed()}).",
    ],
    ids=[
        "absolute",
        "upper-case-host",
        "scheme-relative",
        "relative",
        "html-attribute",
        "percent-encoded",
        "bare-reset-token",
        "unsubscribe-header",
        "unsubscribe-%3A",
        "bare-signed",
        "query-token",
        "fragment-sig",
        "after-word-and-colon",
        "in-parentheses",
    ],
)
def test_every_spelling_of_a_secret_is_redacted(spelling):
    text = spelling()
    secret = TOKEN if TOKEN in text else signed()
    redacted = redact(f"before {text} after")
    assert "[redacted]" in redacted and redacted.startswith("before ")
    for part in (TOKEN.split("-")[1], signed().rsplit(":", 1)[-1], quote(signed(), safe="")):
        assert part not in redacted, f"{secret!r} left in {redacted!r}"


def test_links_without_a_secret_are_kept_as_they_are():
    text = (
        "Reset it at http://127.0.0.1:8000/accounts/password_reset/ · see "
        "http://127.0.0.1:8000/p/12/#comment-34 · job 6f1c2a2e-3b7e-4d1a-9c1e-0a1b2c3d4e5f"
        " · Re: Lagos traffic, 10:30"
    )
    assert redact(text) == text


@pytest.mark.django_db(transaction=True)
def test_rows_stored_before_the_log_was_redacted_are_redacted_by_the_migration():
    executor = MigrationExecutor(connection)
    before = [("notifications", "0002_prune_schedule")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("forum", "User").objects.create(username="ada", email="ada@e.com")
    token = make_unsubscribe_token(user_id=user.pk, notification_type="welcome")
    unsubscribe = f"http://127.0.0.1:8000/notifications/unsubscribe/{token}/"
    reset = f"http://127.0.0.1:8000/accounts/reset/MQ/{TOKEN}/"
    row = old.get_model("notifications", "EmailDelivery").objects.create(
        idempotency_key="password_reset:1:job-x",
        notification_type="password_reset",
        user_id=user.pk,
        to_email=user.email,
        subject="Reset your password",
        status="sent",
        body_text=f"Choose a new one here:\n\n{reset}\n",
        body_html=f'<a href="{reset}">Go</a>',
        headers={"List-Unsubscribe": f"<{unsubscribe}>"},
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    stored = EmailDelivery.objects.get(pk=row.pk)
    assert (
        stored.body_text
        == "Choose a new one here:\n\nhttp://127.0.0.1:8000/accounts/reset/[redacted]/\n"
    )
    assert stored.body_html == '<a href="http://127.0.0.1:8000/accounts/reset/[redacted]/">Go</a>'
    assert stored.headers == {
        "List-Unsubscribe": "<http://127.0.0.1:8000/notifications/unsubscribe/[redacted]/>"
    }
    assert stored.subject == "Reset your password"


def test_signed_values_are_found_wherever_the_full_pattern_finds_them():
    """Signed values are looked for only in texts holding a signature-shaped run
    (redaction.py): the result must be what the pattern alone gives — adjacent values too."""
    pieces = ["x", "ab", ".", "-", "_", ":", "%3A", "%3a", " ", "/", "A" * 27, "B" * 30, "1t9"]
    pieces += [signed(), f".{signed()}", "é", "A" * 26]
    rng = random.Random(21)
    texts = ["x:" + "A" * 27 + ".y:" + "B" * 27, f"{signed()}.{signed()}", f"a{signed()}-"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(20_000)]
    for text in texts:
        expected = redaction._SIGNED_VALUE.sub(redaction.REDACTED, text)
        assert redaction.redact_signed_values(text) == expected, text
