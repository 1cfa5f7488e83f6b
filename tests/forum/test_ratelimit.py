"""Login, sign-up, posting and commenting are limited per IP and per account, with a message.

Windows open at the first attempt (Redis TTLs), so no test depends on the wall clock."""

import uuid

import pytest
import redis

from forum import ratelimit
from forum.models import Comment, Post, User
from tests.conftest import PASSWORD
from tests.forum.factories import PostFactory, UserFactory

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
        wrong = client.post("/accounts/login/", {"username": user.username, "password": "nope"},
                            REMOTE_ADDR=ip)  # fmt: skip
        assert wrong.status_code == 200
    blocked = client.post(
        "/accounts/login/", {"username": user.username, "password": "correct horse battery staple"},
        REMOTE_ADDR=ip,
    )  # fmt: skip
    assert blocked.status_code == 429
    assert "Too many login attempts" in blocked.content.decode()
    assert "_auth_user_id" not in client.session  # even the right password waits
    elsewhere = client.post("/accounts/login/", {"username": "someone", "password": "x"},
                            REMOTE_ADDR="192.0.2.77")  # fmt: skip
    assert elsewhere.status_code == 200  # another address is not blocked


def test_sign_ups_are_limited_and_the_form_keeps_what_was_typed(client, settings, ip):
    settings.RATE_LIMITS = {"signup": (1, 3600)}
    first = uuid.uuid4().hex[:8]
    data = {"username": f"u{first}", "email": f"{first}@example.com", "display_name": "Ngozi",
            "password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1"}  # fmt: skip
    assert client.post("/accounts/signup/", data, REMOTE_ADDR=ip).status_code == 302
    client.logout()
    second = {**data, "username": f"v{first}", "email": f"v{first}@example.com"}
    response = client.post("/accounts/signup/", second, REMOTE_ADDR=ip)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many sign-ups" in page and f"v{first}" in page
    assert not User.objects.filter(username=f"v{first}").exists()


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
        response = client.post("/accounts/login/", {"username": user.username, "password": "x"},
                               REMOTE_ADDR=ip)  # fmt: skip
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


def test_a_window_opens_at_the_first_attempt_and_says_how_long_to_wait(client, settings, ip):
    settings.RATE_LIMITS = {"login": [(1, 60), (3, 3600)]}
    assert login(client, "tunde") == 200
    second = client.post("/accounts/login/", {"username": "TUNDE", "password": "x"})
    assert second.status_code == 429 and "wait about 1 minute " in second.content.decode()
    client_redis = redis.Redis.from_url(settings.REDIS_URL)
    client_redis.delete("ratelimit:login:name:tunde:60")  # the minute has passed
    assert login(client, "tunde") == 200  # the hour's window counted 3 of 3
    fourth = client.post("/accounts/login/", {"username": "tunde", "password": "x"})
    assert fourth.status_code == 429 and "wait about 60 minutes" in fourth.content.decode()
