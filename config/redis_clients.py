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

import dataclasses
import time
from collections import Counter
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel, SentinelConnectionPool

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


class AgreedSentinel(Sentinel):
    """redis-py's Sentinel manager takes the first answer. A Sentinel that was cut off with
    the old primary's host still names the old primary for a moment after the link comes
    back (about 0.6 s in bench/hosts.py's redis-failover run, until the other Sentinels'
    hello messages reach it), and it is first in the URL when it lives with the primary: a
    connection opened then went to the old primary (docs/RELIABILITY.md, finding 19).

    This one asks until a majority of the Sentinels name the same primary; with no majority
    (some Sentinels away or disagreeing), the answer from the newest configuration
    (`config-epoch`, which a failover raises) wins. Sentinels that answered are asked first
    next time and those that did not last, so one whose host is away costs its timeout only
    when the others disagree."""

    def discover_master(self, service_name: str) -> tuple[str, int]:
        needed = len(self.sentinels) // 2 + 1
        votes: Counter[tuple[str, int]] = Counter()
        newest: tuple[int, tuple[str, int]] | None = None
        answered: list[Any] = []
        silent: list[Any] = []
        errors: list[str] = []
        for sentinel in list(self.sentinels):
            try:
                # SENTINEL MASTERS: a dict by name (redis-py types it as dict or list).
                masters = cast(dict[str, dict[str, Any]], sentinel.sentinel_masters())
            except (redis.ConnectionError, redis.TimeoutError) as error:
                silent.append(sentinel)
                errors.append(f"{sentinel} - {error!r}")
                continue
            answered.append(sentinel)
            state = masters.get(service_name)
            if not state or not self.check_master_state(state, service_name):
                continue
            address = (self._force_master_ip or state["ip"], int(state["port"]))
            votes[address] += 1
            epoch = int(state.get("config-epoch", 0))
            if newest is None or epoch > newest[0]:
                newest = (epoch, address)
            if votes[address] >= needed:
                break  # a majority: the rest need not be asked
        asked = {id(sentinel) for sentinel in answered + silent}
        unasked = [sentinel for sentinel in self.sentinels if id(sentinel) not in asked]
        self.sentinels[:] = answered + unasked + silent
        agreed = [address for address, count in votes.items() if count >= needed]
        if agreed:
            return agreed[0]
        if newest is not None:
            return newest[1]
        detail = f" : {', '.join(errors)}" if errors else ""
        not_found = NoSentinelAnswered if not answered else MasterNotFoundError
        raise not_found(f"No master found for {service_name!r}{detail}")


class NoSentinelAnswered(MasterNotFoundError):
    """Every Sentinel failed to answer (each cost its timeout), as against answering that
    the primary is down."""


class PrimaryCheckingPool(SentinelConnectionPool):
    """redis-py's Sentinel-managed pool, which asks the Sentinels where the primary is only
    when it opens a connection: a connection that sat idle while its primary's host was cut
    off still reaches that old primary when the link comes back, and the old primary takes
    writes as a primary until the Sentinels turn it into a replica — up to 10 s, their
    INFO period — then drops them in its resync (docs/RELIABILITY.md, finding 19). This pool
    asks again before lending a connection, at most every CHECK_EVERY seconds; on a new
    address redis-py closes the idle connections, and one in use is closed at its release.
    A connection held for good (the broker's BRPOP and LISTEN) is compared with
    `master_address` by its holder: jobs.worker.kombu_redis.SentinelPoller."""

    CHECK_EVERY = 1.0
    # When no Sentinel answered, each cost its timeout: not again before this.
    CHECK_AFTER_NO_ANSWER = 5.0
    _next_check = 0.0

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        self.check_primary()
        return super().get_connection(*args, **kwargs)

    def check_primary(self) -> None:
        """Ask the Sentinels where the primary is, if it is time; `master_address` then says.
        No Sentinel answering: connections are used as they are (they fail on their own)."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self.CHECK_EVERY
        try:
            self.get_master_address()
        except NoSentinelAnswered:
            self._next_check = now + self.CHECK_AFTER_NO_ANSWER
        except (redis.ConnectionError, redis.TimeoutError):
            pass  # they answer that the primary is down: a failover is under way

    def serves(self, connection: Any) -> bool:
        """Whether a connected `connection` of this pool reaches the primary the Sentinels
        named last (True while none has been named)."""
        primary = self.master_address
        return primary is None or (connection.host, int(connection.port)) == tuple(primary)


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
    sentinel = AgreedSentinel(
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
