"""Login, sign-up, posting, commenting and password resets are limited per IP and per account.

Windows open at the first attempt (Redis TTLs), so no test depends on the wall clock."""

import uuid

import pytest
import redis
from django.core import mail
from django.db import connection

from config.proxies import parse_trusted_proxies
from forum import ratelimit
from forum.models import Comment, Post, User
from jobs.models import Job
from tests.conftest import PASSWORD
from tests.forum.factories import PostFactory, UserFactory
from tests.notifications.helpers import run_email_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def ip(settings):
    """A fresh client address, and no counters left in Redis by an earlier run."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter("ratelimit:*", count=1000))
    if keys:
        client.delete(*keys)
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def test_login_attempts_are_limited_per_ip_without_checking_the_password(
    client, user, settings, ip
):
    settings.RATE_LIMITS = {"login": (3, 300)}
    for _ in range(3):
        wrong = client.post(
            "/accounts/login/", {"username": user.username, "password": "nope"}, REMOTE_ADDR=ip
        )
        assert wrong.status_code == 200
    blocked = client.post(
        "/accounts/login/",
        {"username": user.username, "password": "correct horse battery staple"},
        REMOTE_ADDR=ip,
    )
    assert blocked.status_code == 429
    assert "Too many login attempts" in blocked.content.decode()
    assert "_auth_user_id" not in client.session  # even the right password waits
    elsewhere = client.post(
        "/accounts/login/", {"username": "someone", "password": "x"}, REMOTE_ADDR="192.0.2.77"
    )
    assert elsewhere.status_code == 200  # another address is not blocked


def test_sign_ups_are_limited_and_the_form_keeps_what_was_typed(client, settings, ip):
    settings.RATE_LIMITS = {"signup": (1, 3600)}
    first = uuid.uuid4().hex[:8]
    data = {
        "username": f"u{first}",
        "email": f"{first}@example.com",
        "display_name": "Ngozi",
        "password1": "a-long-passphrase-1",
        "password2": "a-long-passphrase-1",
    }
    assert client.post("/accounts/signup/", data, REMOTE_ADDR=ip).status_code == 302
    client.logout()
    second = {**data, "username": f"v{first}", "email": f"v{first}@example.com"}
    response = client.post("/accounts/signup/", second, REMOTE_ADDR=ip)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many sign-ups" in page and f"v{first}" in page
    assert not User.objects.filter(username=f"v{first}").exists()


def sign_up(client, **headers) -> int:
    """One sign-up of a new member; its status code (302 made, 429 over the limit)."""
    name = uuid.uuid4().hex[:10]
    data = {
        "username": f"u{name}",
        "email": f"{name}@example.com",
        "display_name": "Tunde",
        "password1": "a-long-passphrase-1",
        "password2": "a-long-passphrase-1",
    }
    status = client.post("/accounts/signup/", data, **headers).status_code
    client.logout()
    return status


def test_a_spoofed_x_forwarded_for_does_not_escape_the_sign_up_limit(client, settings, ip):
    """8 sign-ups from one address, each claiming another in X-Forwarded-For: 5 get through.
    HTTPS on, as in production: the header used to be believed from anyone then."""
    settings.RATE_LIMITS = {"signup": (5, 3600)}
    settings.HTTPS = True
    statuses = [
        sign_up(client, REMOTE_ADDR=ip, HTTP_X_FORWARDED_FOR=spoofed)
        for spoofed in [
            "203.0.113.1",
            "203.0.113.2, 198.51.100.2",
            "garbage",
            f"{ip}, 1.1.1.1",
            "[2001:db8::7]:443",
            "203.0.113.6:80",
            " 203.0.113.7 ",
            "::1",
        ]
    ]
    assert statuses == [302] * 5 + [429] * 3
    assert User.objects.count() == 5


def test_behind_a_trusted_proxy_each_client_is_counted_by_its_forwarded_address(
    client, settings, ip
):
    settings.RATE_LIMITS = {"signup": (2, 3600)}
    settings.TRUSTED_PROXIES = parse_trusted_proxies("192.0.2.0/28, 2001:db8:ffff::/48")
    ada, bayo = "198.51.100.41", "2001:db8:1::41"
    assert sign_up(client, REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=ada) == 302
    # through two proxies, with a made-up address of the client's own in front
    chain = f"6.6.6.6, {ada}, 192.0.2.9"
    assert sign_up(client, REMOTE_ADDR="2001:db8:ffff::1", HTTP_X_FORWARDED_FOR=chain) == 302
    assert sign_up(client, REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=f"7.7.7.7,{ada}") == 429
    # another client behind the same proxy has its own counter
    assert sign_up(client, REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=f"[{bayo}]:5000") == 302
    assert User.objects.count() == 3


def test_posting_is_limited_per_account_and_the_text_is_not_lost(user_client, board, settings, ip):
    settings.RATE_LIMITS = {"post": (2, 600), "comment": (1, 600)}
    url = f"/b/{board.slug}/new/"
    for i in range(2):
        data = {"title": f"Topic {i}", "body": "Abeg read am"}
        assert user_client.post(url, data, REMOTE_ADDR=ip).status_code == 302
    body = "A long post I typed for twenty minutes"
    third = user_client.post(url, {"title": "Third", "body": body}, REMOTE_ADDR="192.0.2.9")
    assert third.status_code == 429  # per account: another address does not help
    assert "Too many new topics" in third.content.decode() and body in third.content.decode()
    assert Post.objects.count() == 2

    post = PostFactory(board=board)
    assert user_client.post(f"/p/{post.pk}/comment/", {"body": "first"}).status_code == 302
    second = user_client.post(f"/p/{post.pk}/comment/", {"body": "second one"})
    assert second.status_code == 429 and "second one" in second.content.decode()
    assert Comment.objects.filter(post=post).count() == 1


def test_limits_are_skipped_when_redis_is_down(client, user, settings, ip):
    settings.RATE_LIMITS = {"login": (0, 300)}
    ratelimit._client["redis"] = None
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    try:
        response = client.post(
            "/accounts/login/", {"username": user.username, "password": "x"}, REMOTE_ADDR=ip
        )
    finally:
        ratelimit._client["redis"] = None
    assert response.status_code == 200  # the normal "wrong password" page, not a lock-out


def full_width(text: str) -> str:
    """ASCII letters, digits and signs as their full-width forms (NFKC folds them back)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def login(client, username: str, password: str = "wrong") -> int:
    """One attempt from a fresh address, so that only the per-account counter can block it."""
    address = f"198.51.100.{uuid.uuid4().int % 250}"
    response = client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )
    return response.status_code


SPELLINGS = {
    "leading space": lambda name: f" {name}",
    "trailing space": lambda name: f"{name} ",
    "tab and newline": lambda name: f"\t{name}\n",
    "no-break spaces": lambda name: f"\u00a0{name}\u00a0",
    "ideographic space": lambda name: f"\u3000{name}",
    "full width": full_width,
    "upper case": str.upper,
    "title case": str.title,
    "mathematical digit": lambda name: name.replace("5", "\U0001d7d3"),  # bold 5
    "superscript digit": lambda name: name.replace("5", "\u2075"),
    "email": lambda name: f"{name}@example.com",
    "email upper case, spaced": lambda name: f"  {name.upper()}@EXAMPLE.COM ",
    "email full width": lambda name: full_width(f"{name}@example.com"),
}


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_every_spelling_of_a_username_counts_against_its_one_login_limit(
    client, settings, ip, spelling
):
    settings.RATE_LIMITS = {"login": (2, 300)}
    UserFactory(username="demo_user_5", email="demo_user_5@example.com")
    assert login(client, "demo_user_5") == 200
    assert login(client, spelling("demo_user_5")) == 200
    # The third attempt, with the right password, waits: both counted against demo_user_5.
    assert login(client, "demo_user_5", PASSWORD) == 429
    assert "_auth_user_id" not in client.session


def test_logging_in_by_email_and_by_username_share_one_counter(client, settings, ip):
    settings.RATE_LIMITS = {"login": (2, 300)}
    member = UserFactory(username="ngozi", email="ngozi.okafor@example.ng")
    assert login(client, "ngozi.okafor@example.ng") == 200
    assert login(client, "Ngozi") == 200
    assert login(client, "ngozi.okafor@example.ng", PASSWORD) == 429
    assert login(client, member.username, PASSWORD) == 429
    assert login(client, "someone-else", PASSWORD) == 200  # another account is not blocked


def test_spellings_of_a_name_that_matches_nobody_share_one_counter(client, settings, ip):
    settings.RATE_LIMITS = {"login": (2, 300)}
    assert login(client, " Ghost") == 200
    assert login(client, full_width("GHOST")) == 200
    assert login(client, "ghost\u3000") == 429
    assert login(client, "gh\x00ost") == 200  # a name no member can have: its own counter


def test_windows_open_at_the_first_attempt_and_a_refused_one_uses_up_no_longer_window(
    client, settings, ip
):
    settings.RATE_LIMITS = {"login": [(2, 3600), (1, 60)]}

    def attempt(name: str) -> str:
        data = {"username": name, "password": "x"}
        address = f"198.51.100.{uuid.uuid4().int % 250}"
        return client.post("/accounts/login/", data, REMOTE_ADDR=address).content.decode()

    assert "Too many" not in attempt("tunde")
    assert "wait about 1 minute and" in attempt("TUNDE")  # the minute's window
    minutes_pass(settings, 1)
    assert "Too many" not in attempt("tunde")  # the hour counted 2 of 2: the refused one not
    minutes_pass(settings, 1)
    assert "wait about 58 minutes" in attempt("tunde")  # the hour's window, from the first


# --- Password resets ---------------------------------------------------------------------------

RESET_LIMITS = {"password_reset": (100, 900), "password_reset_email": [(1, 300), (5, 86400)]}


def ask_reset(client, email: str, address: str | None = None):
    address = address or f"203.0.113.{uuid.uuid4().int % 250}"
    return client.post("/accounts/password_reset/", {"email": email}, REMOTE_ADDR=address)


def minutes_pass(settings, minutes: int) -> None:
    """Age every rate-limit window in Redis by `minutes`, closing those that end sooner."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter("ratelimit:*"):
        left = client.ttl(key) - minutes * 60
        if left > 0:
            client.expire(key, left)
        else:
            client.delete(key)


def reset_emails_to(address: str) -> int:
    run_email_jobs()
    return sum(1 for message in mail.outbox if message.to == [address])


def test_a_member_gets_one_reset_email_in_five_minutes_and_five_a_day(client, settings, ip):
    settings.RATE_LIMITS = RESET_LIMITS
    member = UserFactory(email="Chioma.Eze@example.com")
    for spelling in ("Chioma.Eze@example.com", "chioma.eze@EXAMPLE.COM", " chioma.eze@example.com"):
        assert ask_reset(client, spelling).status_code == 302  # each from another address
    assert reset_emails_to(member.email) == 1
    for expected in (2, 3, 4, 5, 5, 5):
        minutes_pass(settings, 5)
        ask_reset(client, member.email)
        assert reset_emails_to(member.email) == expected
    assert Job.objects.filter(class_name="EmailNotificationJob").count() == 5


def test_reset_requests_are_limited_per_ip_without_saying_so(client, settings, ip):
    settings.RATE_LIMITS = {**RESET_LIMITS, "password_reset": (2, 900)}
    members = [UserFactory() for _ in range(3)]
    answers = [ask_reset(client, member.email, address=ip) for member in members]
    done = (302, "/accounts/password_reset/done/")
    assert {(answer.status_code, answer["Location"]) for answer in answers} == {done}
    run_email_jobs()
    assert [message.to for message in mail.outbox] == [[members[0].email], [members[1].email]]
    assert ask_reset(client, members[2].email).status_code == 302  # another IP is served


def test_logins_and_reset_requests_are_counted_per_real_address_whatever_the_header_says(
    client, settings, ip
):
    settings.RATE_LIMITS = {**RESET_LIMITS, "login": (3, 300), "password_reset": (2, 900)}
    settings.HTTPS = True
    spoofed = iter(f"203.0.113.{n}" for n in range(1, 100))
    logins = [
        client.post(
            "/accounts/login/",
            {"username": f"nobody{n}", "password": "x"},  # another account each time
            REMOTE_ADDR=ip,
            HTTP_X_FORWARDED_FOR=next(spoofed),
        ).status_code
        for n in range(4)
    ]
    assert logins == [200, 200, 200, 429]

    members = [UserFactory() for _ in range(3)]
    for member in members:
        client.post(
            "/accounts/password_reset/",
            {"email": member.email},
            REMOTE_ADDR=ip,
            HTTP_X_FORWARDED_FOR=next(spoofed),
        )
    run_email_jobs()
    assert [message.to for message in mail.outbox] == [[members[0].email], [members[1].email]]


def test_known_unknown_and_limited_addresses_get_the_same_answer_from_the_same_work(
    client, settings, ip
):
    """The same page, and the same statements in the same order: nothing in the answer or
    its timing tells whether an account uses the address or it was asked for just now."""
    settings.RATE_LIMITS = RESET_LIMITS
    member = UserFactory(email="bola@example.com")
    ask_reset(client, member.email)  # so that the next one is over the member's limit

    def answer(email: str) -> tuple:
        statements = []  # as sent, values apart: the work, whatever the address

        def record(execute, sql, params, many, context):
            statements.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            response = ask_reset(client, email)
        page = client.get(response["Location"]).content.decode()
        return response.status_code, response["Location"], page, statements

    known_limited, unknown = answer(member.email), answer("nobody@example.com")
    known = answer(UserFactory().email)
    assert known == unknown == known_limited
    assert answer("NOBODY@example.com") == unknown
