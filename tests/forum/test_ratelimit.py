"""Login, sign-up, posting and commenting are limited per IP and per account, with a message."""

import time
import uuid
from types import SimpleNamespace

import pytest
import redis

from forum import ratelimit
from forum.models import Comment, Post, User
from tests.forum.factories import PostFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock_at_a_window_start(monkeypatch):
    """Limits count in fixed windows of wall-clock time, so a test whose requests crossed a
    window's end would see its count start again. Each test starts 10 s into a window
    (1,800,000,000 is a multiple of every window used here) and its clock runs at real speed."""
    started = time.monotonic()
    clock = SimpleNamespace(time=lambda: 1_800_000_010 + time.monotonic() - started)
    monkeypatch.setattr(ratelimit, "time", clock)


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
    from forum import ratelimit

    settings.RATE_LIMITS = {"login": (0, 300)}
    ratelimit._client["redis"] = None
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    try:
        response = client.post("/accounts/login/", {"username": user.username, "password": "x"},
                               REMOTE_ADDR=ip)  # fmt: skip
    finally:
        ratelimit._client["redis"] = None
    assert response.status_code == 200  # the normal "wrong password" page, not a lock-out
