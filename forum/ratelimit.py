"""Rate limits for the actions abusers repeat: logging in, signing up, posting, commenting,
asking for password resets.

Counted in Redis per client IP (config.proxies.client_ip: X-Forwarded-For is believed only
from TRUSTED_PROXIES) and per account. A window opens at an account's (or IP's) first
attempt and lasts its seconds, so `(1, 300)` means at most one in any five minutes; an
action may have several windows (RATE_LIMITS: `(count, seconds)` or a list of them).
Over the limit, the view shows its form again with the message (nothing typed is lost) and
answers 429 — except the password reset form, which answers every request alike so as not
to tell who has an account. With Redis unreachable the limits are skipped: users must not
be locked out because a counter is down.

An account is counted per member, not per spelling: what a client typed is resolved to the
member it names (username or email address, ignoring case, width and surrounding space), so
" ada", "ＡＤＡ" and ada@example.com share one counter. A name that matches nobody is counted
under its NFKC-normalised, case-folded, stripped form.
"""

from __future__ import annotations

import logging
import math

import redis
from django.conf import settings
from django.http import HttpRequest

from config import redis_clients
from config.proxies import client_ip
from forum import selectors
from forum.models import User

logger = logging.getLogger("forum.ratelimit")

_client: dict = {"redis": None}


def member_exceeded(action: str, *, member_id: int) -> bool:
    """For jobs, which have no client: count one attempt at `action` for the member; True
    when that is over a limit."""
    over = _count(action, [_member_key(member_id)]) is not None
    if over:
        logger.warning("ratelimit.exceeded action=%s member=%s", action, member_id)
    return over


def exceeded(
    request: HttpRequest, action: str, *, account: str = "", member: User | None = None
) -> str | None:
    """Count one attempt at `action` from this client's IP and, when given, for the account:
    `member`, or `account` as the client typed it. The message to show when over a limit."""
    if not settings.RATE_LIMITS.get(action):
        return None
    keys = [f"ip:{client_ip(request)}"]
    if member is not None:
        keys.append(_member_key(member.pk))
    elif account:
        keys.extend(_account_keys(account))
    wait = _count(action, keys)
    if wait is None:
        return None
    logger.warning("ratelimit.exceeded action=%s keys=%r", action, keys)
    minutes = math.ceil(wait / 60)
    return (
        f"Too many {DESCRIPTIONS.get(action, action)} from you in a short time. "
        f"Please wait about {minutes} minute{'s' if minutes != 1 else ''} and try again."
    )


DESCRIPTIONS = {
    "login": "login attempts",
    "signup": "sign-ups",
    "post": "new topics",
    "comment": "comments",
}


def _account_keys(typed: str) -> list[str]:
    """The counters of what a client typed to name an account: each member it names (two
    when one member's username is another's email address), else the normalised text."""
    name = selectors.typed_name(typed)
    # PostgreSQL refuses NUL in text, and no username or address holds one.
    member_ids = [] if "\x00" in name else selectors.member_ids_named(name=name)
    return [_member_key(pk) for pk in member_ids] or [f"name:{name.casefold()[:254]}"]


def _member_key(member_id: int) -> str:
    return f"member:{member_id}"


def _count(action: str, keys: list[str]) -> int | None:
    """Count one attempt under each key in the action's windows, shortest first; None when
    all are within their limits, else the seconds until the longest exceeded window closes.
    An attempt a short window refuses is not counted in the longer ones: five quick clicks
    must not use up a day's allowance of reset emails."""
    limit = settings.RATE_LIMITS.get(action)
    if not limit:
        return None
    windows = [limit] if isinstance(limit, tuple) else sorted(limit, key=lambda w: w[1])
    waits: list[int] = []
    try:
        for most, seconds in windows:
            pipe = _redis().pipeline()
            for key in keys:
                name = f"ratelimit:{action}:{key}:{seconds}"
                pipe.set(name, 0, ex=seconds, nx=True)  # the window opens at the first attempt
                pipe.incr(name)
                pipe.ttl(name)
            replies = pipe.execute()
            over = {
                key: ttl
                for key, count, ttl in zip(keys, replies[1::3], replies[2::3], strict=True)
                if count > most
            }
            waits.extend(over.values())
            keys = [key for key in keys if key not in over]
    except redis.RedisError as error:
        logger.warning("ratelimit.unavailable action=%s: %s", action, error)
        return None
    return max(*waits, 1) if waits else None


def _redis() -> redis.Redis:
    if _client["redis"] is None:
        # REDIS_URL, directly or through its Sentinels (config.redis_clients).
        _client["redis"] = redis_clients.from_settings(
            socket_timeout=0.5, socket_connect_timeout=0.5
        )
    return _client["redis"]
