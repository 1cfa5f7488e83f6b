"""Rate limits for the actions abusers repeat: logging in, signing up, posting, commenting.

Fixed windows counted in Redis, per client IP and per account. Over the limit, the view shows
its form again with the message (nothing typed is lost) and answers 429. With Redis
unreachable the limits are skipped: users must not be locked out because a counter is down.
"""

from __future__ import annotations

import logging
import math
import time

import redis
from django.conf import settings
from django.http import HttpRequest

logger = logging.getLogger("forum.ratelimit")

_client: dict = {"redis": None}


def exceeded(request: HttpRequest, action: str, *, account: str = "") -> str | None:
    """Count one attempt at `action`; the message to show when over a limit, else None."""
    limit = settings.RATE_LIMITS.get(action)
    if not limit:
        return None
    count, seconds = limit
    window = int(time.time() // seconds)
    keys = [f"ratelimit:{action}:ip:{client_ip(request)}:{window}"]
    if account:
        keys.append(f"ratelimit:{action}:account:{account.lower()}:{window}")
    try:
        pipe = _redis().pipeline()
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, seconds)
        counts = pipe.execute()[::2]
    except redis.RedisError as error:
        logger.warning("ratelimit.unavailable action=%s: %s", action, error)
        return None
    if max(counts) <= count:
        return None
    wait = math.ceil(((window + 1) * seconds - time.time()) / 60)
    logger.warning(
        "ratelimit.exceeded action=%s ip=%s account=%s", action, client_ip(request), account
    )
    return (
        f"Too many {DESCRIPTIONS.get(action, action)} from you in a short time. "
        f"Please wait about {wait} minute{'s' if wait != 1 else ''} and try again."
    )


DESCRIPTIONS = {
    "login": "login attempts",
    "signup": "sign-ups",
    "post": "new topics",
    "comment": "comments",
}


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR; behind a proxy (HTTPS on) its X-Forwarded-For's last hop."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.HTTPS and forwarded:
        return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "unknown")


def _redis() -> redis.Redis:
    if _client["redis"] is None:
        _client["redis"] = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5
        )
    return _client["redis"]
