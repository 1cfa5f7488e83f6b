"""kombu's Redis transport, made to survive losing Redis while a wait for messages is pending.

`install()` registers it for `redis://` URLs, and its Sentinel twin for kombu's `sentinel://`
ones (config/celery.py calls it before the app is made), so URLs, logs and Flower are
unchanged.

kombu 5.7.0 (latest) crashes a worker when Redis goes away while its BRPOP is outstanding
(fewer messages queued than the worker may prefetch; 10 of 10 times in a reproduction, 2 of 4
Redis fault runs): on the connection error Celery collects the connection, then closes it. The
first close of the task channel fails in `_brpop_read` before the channel is marked closed,
and the transport's `client` is set to None. The second close then tries to restore the
channel's unacknowledged messages, rebuilds its connection pool from that `client`, and raises
AttributeError ('NoneType' object has no attribute 'hostname'), which Celery treats as
unrecoverable: the worker exits. (Threads: celery/kombu#582, #970; celery/celery#10205.)

Here a channel whose transport was detached skips that restore. Nothing is lost: kombu restores
from the copy in Redis's `unacked` hash, not from memory, and Redis is unreachable at that
moment anyway. If Redis kept its data, any worker's visibility check requeues those messages
after the visibility timeout; if it came back empty, the dispatcher republishes every ready
job (jobs.ledger.recovery), and a duplicate is skipped at claim.

It also makes a purge (`celery purge`, `app.control.purge()`) final for ledger jobs: the
ledger would otherwise publish a purged job again as a lost message. A purge renames each of
the queue's lists (one per priority step) aside and names it in PURGED_LISTS_KEY, in one Lua
script: as atomic as kombu's delete, O(1) per list whatever the queue holds, from any process
(the `celery` CLI has no database), with kombu's count. The dispatcher then turns those
messages into task ids (collect_purged_ids: a batch per script, popped and recorded at once)
and discards the jobs still ready (jobs.ledger.recovery.discard_purged) before it looks for
lost messages. Decoding the messages in the purge itself would block Redis for 25 µs a message
(2.5 s for 100,000, beyond every client's 2 s socket timeout).

Pipelines are built over the channel's connection pool (Channel.pipeline): kombu built a new
redis-py client for each, two per message a worker takes (the unacked copy, then the ack), most
of it spent rebuilding the client's response callbacks. No client is kept: only the callbacks,
once per pool (docs/PERFORMANCE.md, issue 20).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.util import Finalize
from typing import TYPE_CHECKING, Any, cast

from kombu.transport import TRANSPORT_ALIASES, redis
from kombu.transport.virtual import Channel as VirtualChannel
from redis.client import Pipeline

from config import redis_clients

if TYPE_CHECKING:
    from redis import ConnectionPool, Redis

logger = logging.getLogger("jobs.kombu_redis")

# Lists of purged messages (renamed aside by a purge), until the dispatcher has read them;
# then the task ids read, until the dispatcher has discarded their jobs.
PURGED_LISTS_KEY = "jobs:purged-lists"
PURGED_IDS_KEY = "jobs:purged-ids"

# KEYS[1] PURGED_LISTS_KEY, then the queue's lists, then as many new names for them; returns
# how many messages were purged (what kombu's own purge returns).
_PURGE = """
local lists = (#KEYS - 1) / 2
local purged = 0
for k = 2, lists + 1 do
    local length = redis.call('LLEN', KEYS[k])
    if length > 0 then
        redis.call('RENAME', KEYS[k], KEYS[k + lists])
        redis.call('SADD', KEYS[1], KEYS[k + lists])
        purged = purged + length
    end
end
return purged
"""

# KEYS[1] a purged list, KEYS[2] PURGED_IDS_KEY, KEYS[3] PURGED_LISTS_KEY; ARGV[1] at most
# this many messages. Pops them and records their task ids (a message with no headers.id is
# no task: dropped); an emptied list leaves PURGED_LISTS_KEY. Returns how many were popped.
_COLLECT = """
local ids = {}
local taken = 0
for _ = 1, tonumber(ARGV[1]) do
    local raw = redis.call('RPOP', KEYS[1])
    if not raw then
        redis.call('SREM', KEYS[3], KEYS[1])
        break
    end
    taken = taken + 1
    local ok, message = pcall(cjson.decode, raw)
    if ok and type(message) == 'table' and type(message.headers) == 'table'
            and type(message.headers.id) == 'string' then
        ids[#ids + 1] = message.headers.id
    end
end
if #ids > 0 then
    redis.call('SADD', KEYS[2], unpack(ids))
end
return taken
"""


def collect_purged_ids(client: Redis, *, batch: int = 100) -> None:
    """Move the task ids of every purged message into PURGED_IDS_KEY. Each script pops and
    records one batch together, so several dispatchers can collect at once; a batch of 100
    holds Redis for about 4 ms (25-40 µs a message of 1.4 kB)."""
    # SMEMBERS: a set of bytes (kombu's client does not decode).
    for raw in cast(set[bytes], client.smembers(PURGED_LISTS_KEY)):
        name = raw.decode()
        while client.eval(_COLLECT, 3, name, PURGED_IDS_KEY, PURGED_LISTS_KEY, batch) == batch:
            pass


def _detached(channel: VirtualChannel) -> bool:
    transport = channel.connection
    return transport is None or transport.client is None


class QoS(redis.QoS):
    # kombu's private state this override touches, as kombu's QoS.__init__ sets it: kombu-stubs
    # leave out the first two, and type `_delivered` by its class default (None) where it is
    # an OrderedDict carrying a `restored` flag.
    _on_collect: Finalize
    _flush: Callable[[], None]
    _delivered: Any

    def restore_unacked_once(self, stderr: Any | None = None) -> None:
        if not _detached(self.channel):
            return super().restore_unacked_once(stderr=stderr)
        self._on_collect.cancel()
        self._flush()
        if self._delivered:
            logger.warning(
                "broker.restore_skipped count=%d: the Redis connection is already closed; "
                "the job ledger republishes what was not run",
                len(self._delivered),
            )
        self._delivered.clear()
        self._delivered.restored = True
        return None

    @contextmanager
    def pipe_or_acquire(
        self, pipe: Pipeline | None = None, client: Redis | None = None
    ) -> Iterator[Pipeline]:
        if pipe:
            yield pipe
        elif client:
            yield client.pipeline()
        else:
            yield cast(Channel, self.channel).pipeline()


class Channel(redis.Channel):
    QoS = QoS
    _callbacks_pool: ConnectionPool | None = None
    _callbacks: Any = None

    def pipeline(self, transaction: bool = True) -> Pipeline:
        """A pipeline on the channel's pool, as `conn_or_acquire()` then `.pipeline()` gives,
        without building a client (module docstring)."""
        if self.global_keyprefix:  # kombu's prefixing client and pipeline: not ours to copy
            with self.conn_or_acquire() as client:
                return cast(Pipeline, client.pipeline(transaction))
        pool = self.pool  # rebuilt after a reconnect; raises once the channel is detached
        if self._callbacks_pool is not pool:
            with self.conn_or_acquire() as client:  # the callbacks its clients get
                self._callbacks = client.response_callbacks
            self._callbacks_pool = pool
        return Pipeline(pool, self._callbacks, transaction, None)

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        # Any other use of a detached channel: a connection error, which kombu and Celery
        # handle (ignore_errors, reconnect), rather than an AttributeError that stops a worker.
        if _detached(self):
            raise redis.get_redis_ConnectionError()("Redis channel detached from its connection")
        # kombu-stubs leave out the private _connparams (kombu.transport.redis.Channel has it).
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc,no-any-return]

    def _purge(self, queue: str) -> int:
        """Take a queue's messages out, keeping them aside for the ledger (module docstring)."""
        # kombu-stubs leave out the private _q_for_pri (a priority step's list name).
        lists = [self._q_for_pri(queue, pri) for pri in self.priority_steps]  # type: ignore[attr-defined]
        purge = uuid.uuid4().hex
        aside = [f"jobs:purged-messages:{purge}:{pri}" for pri in self.priority_steps]
        keys = [PURGED_LISTS_KEY, *lists, *aside]
        with self.conn_or_acquire() as client:
            return int(client.eval(_PURGE, len(keys), *keys))


class Transport(redis.Transport):
    Channel = Channel


class SentinelChannel(Channel, redis.SentinelChannel):
    """kombu's Sentinel channel (its pool asks the Sentinels for the primary) with the fixes
    above: the MRO puts ours first, kombu's Sentinel pool under them."""

    sentinel_kwargs: dict[str, Any] | None

    def leave_old_primary(self) -> None:
        """Close this channel's BRPOP and LISTEN connections if the Sentinels now name
        another primary (SentinelPoller)."""
        # kombu-stubs leave out the private _async_pool (None until the channel consumed).
        pool = self._async_pool  # type: ignore[attr-defined]
        if not isinstance(pool, redis_clients.PrimaryCheckingPool):
            return
        # kombu's cached clients, only if made: reading the properties would make them.
        held: dict[str, Any] = {}
        for kind, name in (("BRPOP", "client"), ("LISTEN", "subclient")):
            connection = getattr(self.__dict__.get(name), "connection", None)
            if connection is not None and connection._sock is not None:
                held[kind] = connection
        if not held:
            return
        pool.check_primary()
        for kind, connection in held.items():
            if not pool.serves(connection):
                logger.warning(
                    "broker.left_old_primary connection=%s host=%s port=%s primary=%s: the "
                    "Sentinels name another primary; reconnecting through them",
                    kind,
                    connection.host,
                    connection.port,
                    pool.master_address,
                )
                connection.disconnect()

    def _sentinel_managed_pool(self, asynchronous: bool = False) -> Any:
        # Each Sentinel asked once: redis-py would retry one that does not answer 10 times
        # with backoff (config.redis_clients), ~30 s before the next is asked while its host
        # is cut off. As redis-py does without sentinel_kwargs, its socket_* options apply.
        asking = self.sentinel_kwargs
        if asking is None:
            params = self._connparams(asynchronous)
            asking = {key: value for key, value in params.items() if key.startswith("socket_")}
        self.sentinel_kwargs = {**asking, "retry": redis_clients.retry(0)}
        # kombu-stubs leave out the private _sentinel_managed_pool.
        pool = super()._sentinel_managed_pool(asynchronous)  # type: ignore[misc]
        # kombu builds redis-py's own pool (no hook for its class): make it the subclass
        # that asks the Sentinels again before lending a connection (config.redis_clients).
        pool.__class__ = redis_clients.PrimaryCheckingPool
        # And its Sentinel manager the one that takes the majority's answer.
        pool.sentinel_manager.__class__ = redis_clients.AgreedSentinel
        return pool


class SentinelPoller(redis.MultiChannelPoller):
    """kombu's poller, which also moves a channel's BRPOP and LISTEN connections off a
    primary the Sentinels no longer name. Those connections are held for good, so the
    pool's check before lending one (config.redis_clients.PrimaryCheckingPool) never sees
    them: a worker whose connection survived a cut, or was opened through a Sentinel that
    still named the old primary, waited for messages there until the Sentinels turned it
    into a replica — up to 10 s while the jobs sat on the new primary (docs/RELIABILITY.md,
    finding 19). Before each poll the pool asks the Sentinels (at most once a second) and a
    connection elsewhere is closed; kombu then reconnects it through the Sentinels on its
    next poll, as after any connection error, and re-sends BRPOP or SUBSCRIBE."""

    _channels: set[SentinelChannel]  # kombu-stubs leave out the poller's private state

    def on_poll_start(self) -> None:
        for channel in self._channels:
            channel.leave_old_primary()
        super().on_poll_start()


class SentinelTransport(redis.SentinelTransport):
    Channel = SentinelChannel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cycle = SentinelPoller()


def install() -> None:
    """Serve `redis://` and `sentinel://` URLs with these transports, in this process."""
    TRANSPORT_ALIASES["redis"] = f"{__name__}:Transport"
    TRANSPORT_ALIASES["sentinel"] = f"{__name__}:SentinelTransport"
