"""Every Redis client outside Celery's own connection, from one setting: REDIS_URL.

REDIS_URL is a plain `redis://host:port/db`, or, for Redis behind Sentinel, kombu's own
Sentinel URL: each Sentinel as `sentinel://[:password@]host:port`, separated by `;`, the
database after the last one (`sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26379/0`), with
REDIS_SENTINEL_MASTER naming the monitored primary. The Celery broker (kombu's Sentinel
transport, with jobs.worker.kombu_redis's fixes), Flower and the clients made here (the rate
limiter, /readyz) then ask the Sentinels for the current primary, and follow a failover
(redis-py's `Sentinel.master_for`: each new connection asks again).

Retries are ours to bound. redis-py's client retries a failed command 10 times with a backoff
of up to 1 s; against a host that is cut off (connects time out instead of being refused)
that is about 30 s per call, and a Sentinel on that host costs as much before the next one
is asked. bench/hosts.py's redis-failover run showed it: web requests waiting 12 s on the
rate limiter, dispatchers and worker heartbeats stuck for the whole 30 s cut. So a Sentinel
is asked once (`retry(0)`: the next Sentinel is the retry) and the primary gets one
immediate retry (`retry(1)`: a pooled connection the primary closed, or one that asks the
Sentinels again after a failover); beyond that the caller's own fallback decides (the rate
limiter lets the request through, a publish is left to the dispatcher).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

SENTINEL_SCHEME = "sentinel"


@dataclasses.dataclass(frozen=True)
class SentinelURL:
    sentinels: list[tuple[str, int]]
    db: int
    password: str | None


def is_sentinel(url: str) -> bool:
    return url.strip().lower().startswith(f"{SENTINEL_SCHEME}://")


def parse_sentinel_url(url: str) -> SentinelURL:
    """The Sentinels, database and password of a kombu Sentinel URL; ValueError saying what
    to write when it is not one."""
    example = "sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26379;sentinel://10.0.0.3:26379/0"
    sentinels: list[tuple[str, int]] = []
    db, password = 0, None
    parts = [part.strip() for part in url.split(";") if part.strip()]
    if not parts:
        raise ValueError(f"REDIS_URL names no Sentinel; write e.g. {example}")
    for index, raw in enumerate(parts):
        split = urlsplit(raw)
        part = _redacted(raw, split.password)  # for the messages: never the password
        # kombu reads the scheme in lower case only (urlsplit would lower it for us).
        if not raw.startswith(f"{SENTINEL_SCHEME}://") or not split.hostname:
            raise ValueError(
                f"REDIS_URL part {part!r} is not sentinel://host:port; write e.g. {example}"
            )
        try:
            port = split.port or 26379
        except ValueError as error:
            raise ValueError(f"REDIS_URL part {part!r}: {error}; write e.g. {example}") from None
        sentinels.append((split.hostname, port))
        if split.password:
            password = unquote(split.password)
        path = split.path.strip("/")
        if path:
            if index != len(parts) - 1 or not (path.isascii() and path.isdigit()):
                raise ValueError(
                    f"REDIS_URL: the database number goes after the last Sentinel, as digits "
                    f"(…/0), not {path!r} in {part!r}"
                )
            db = int(path)
    return SentinelURL(sentinels, db, password)


def _redacted(part: str, password: str | None) -> str:
    return part.replace(f":{password}@", ":***@", 1) if password else part


def canonical_sentinel_url(url: str) -> str:
    """The URL as kombu reads it: no spaces around or empty parts between the `;`."""
    return ";".join(part.strip() for part in url.split(";") if part.strip())


def retry(times: int) -> Retry:
    """At most `times` immediate retries (the module's docstring says why so few)."""
    return Retry(NoBackoff(), times)


class PrimaryCheckingPool(SentinelConnectionPool):
    """redis-py's Sentinel-managed pool, which asks the Sentinels where the primary is only
    when it opens a connection: a connection that sat idle while its primary's host was cut
    off still reaches that old primary when the link comes back, and the old primary takes
    writes as a primary until the Sentinels turn it into a replica — up to 10 s, their
    INFO period — then drops them in its resync (docs/RELIABILITY.md, finding 19). This pool
    asks again before lending a connection, at most every CHECK_EVERY seconds; on a new
    address redis-py closes the idle connections, and one in use is closed at its release."""

    CHECK_EVERY = 1.0
    _checked_at = 0.0

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if now - self._checked_at >= self.CHECK_EVERY:
            self._checked_at = now
            # No Sentinel answering: use the connection as it is; it fails on its own.
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
                self.get_master_address()
        return super().get_connection(*args, **kwargs)


def client(url: str, master: str = "", **options: Any) -> redis.Redis:
    """A client of the Redis primary that `url` names: directly, or through its Sentinels
    (`master`: the monitored name). `options`: redis-py's (socket timeouts …), applied to the
    primary's connections and to the Sentinels'."""
    options = {"retry": retry(1), **options}
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **options)
    parsed = parse_sentinel_url(url)
    if not master:
        raise ValueError("REDIS_URL names Sentinels: set REDIS_SENTINEL_MASTER too.")
    asking = {
        key: options[key] for key in ("socket_timeout", "socket_connect_timeout") if key in options
    }
    sentinel = Sentinel(
        parsed.sentinels,
        sentinel_kwargs={**asking, "retry": retry(0)},
        password=parsed.password,
        **options,
    )
    return sentinel.master_for(master, db=parsed.db, connection_pool_class=PrimaryCheckingPool)


def from_settings(**options: Any) -> redis.Redis:
    """A client of this deployment's Redis (REDIS_URL, REDIS_SENTINEL_MASTER)."""
    from django.conf import settings

    return client(settings.REDIS_URL, settings.REDIS_SENTINEL_MASTER, **options)
