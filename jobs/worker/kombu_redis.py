"""kombu's Redis transport, made to survive losing Redis while a wait for messages is pending.

`install()` registers it for `redis://` URLs (config/celery.py calls it before the app is
made), so URLs, logs and Flower are unchanged.

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
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from multiprocessing.util import Finalize
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, redis
from kombu.transport.virtual import Channel as VirtualChannel

logger = logging.getLogger("jobs.kombu_redis")


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


class Channel(redis.Channel):
    QoS = QoS

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        # Any other use of a detached channel: a connection error, which kombu and Celery
        # handle (ignore_errors, reconnect), rather than an AttributeError that stops a worker.
        if _detached(self):
            raise redis.get_redis_ConnectionError()("Redis channel detached from its connection")
        # kombu-stubs leave out the private _connparams (kombu.transport.redis.Channel has it).
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc,no-any-return]


class Transport(redis.Transport):
    Channel = Channel


def install() -> None:
    """Serve `redis://` URLs with this transport, in this process."""
    TRANSPORT_ALIASES["redis"] = f"{__name__}:Transport"
