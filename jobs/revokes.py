"""The dispatcher's ear for Celery's revoke: a revoked job is discarded in the ledger.

A revoke (`celery control revoke ID…`, `celery control terminate SIGNAL ID…`,
`AsyncResult.revoke()`, Flower) is a broadcast kept only in the memory of the workers that
hear it. The ledger republishes a ready job whose message is gone, so a revoke that stayed
there would loop (the worker drops the message, the dispatcher publishes it again), and a
restarted worker, having forgotten it, would run the job. So the revoke reaches the ledger
from two places, with the same compare-and-set (jobs.ledger.writes.discard_revoked):

- the worker that drops a revoked message or terminates a revoked run (Celery's
  `task_revoked` signal: jobs.worker.hooks, jobs.worker.execution.record_revoked);
- every dispatcher, here: it hears the same broadcast on its own connection and discards the
  revoked jobs not running yet (scheduled, ready, blocked), whether or not a worker runs. A
  running job is its worker's: `terminate` ends it there, a plain revoke lets it finish, as
  Celery does.

The dispatcher's node answers `revoke` and `terminate` only, saying what the ledger did; it
stays silent on every other broadcast (ping, inspect, active_queues), whose replies
`celery status`, the pause sync (jobs.worker.processes.ConsumerPauses) and the tests count as
workers. A revoke sent while no dispatcher listens reaches the workers alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from typing import Any

from django.db import close_old_connections
from kombu import Connection
from kombu.message import Message
from kombu.pidbox import Node

from config.celery import app
from jobs.ledger import writes

logger = logging.getLogger("jobs.revokes")

# Seconds between attempts to listen again after the broker connection was lost.
RECONNECT_EVERY = 1.0
# Seconds one wait for a broadcast lasts: how soon the listener notices it should stop.
POLL_TIMEOUT = 1.0


class RevokeListener:
    """A thread of the dispatcher that discards revoked jobs, reconnecting when Redis goes."""

    def __init__(self, stopping: threading.Event) -> None:
        self.stopping = stopping
        # Unique per process: several dispatchers may run on one host.
        self.hostname = f"dispatcher.{os.getpid()}@{socket.gethostname()}"
        self.thread = threading.Thread(target=self.run, name="jobs-revokes", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.listen()
            except Exception as error:  # Redis away: listen again once it is back
                logger.warning(
                    "revokes.disconnected %s: %s (listening again in %.0fs)",
                    type(error).__name__,
                    error,
                    RECONNECT_EVERY,
                )
                self.stopping.wait(RECONNECT_EVERY)

    def listen(self) -> None:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=0)  # a failure returns to run()'s back-off
            node = RevokeNode(
                self.hostname,
                channel=conn.channel(),
                handlers={"revoke": self.revoke, "terminate": self.terminate},
                # celery-types leave out Control.mailbox (celery.app.control.Control has it).
                mailbox=app.control.mailbox(conn),  # type: ignore[attr-defined]
            )
            node.listen()
            _drain(conn)  # the first wait subscribes to the broadcasts
            logger.info("revokes.listening node=%s", self.hostname)
            while not self.stopping.is_set():
                _drain(conn)

    def revoke(self, _state: object, task_id: str | list[str], **_options: Any) -> dict[str, str]:
        """Celery's `revoke` (one id or a list); `terminate` and `signal` are the workers'."""
        ids = [task_id] if isinstance(task_id, str) else [str(one) for one in task_id]
        try:
            close_old_connections()  # this thread's connection may predate a restart
            discarded = writes.discard_revoked(ids)
        except Exception as error:
            logger.warning("revokes.unrecorded ids=%s %s: %s", ids, type(error).__name__, error)
            return {
                "error": f"the ledger did not record the revoke ({type(error).__name__}: "
                f"{error}); a worker records it when it drops the message, or run "
                "`python manage.py jobs discard ID`"
            }
        if discarded:
            logger.info("revokes.discarded ids=%s", ",".join(discarded))
            return {"ok": f"discarded in the ledger: {', '.join(discarded)}"}
        return {
            "ok": "nothing to discard in the ledger: no scheduled, ready or blocked job "
            f"{', '.join(ids)} (a running job ends only by `terminate`, on its worker)"
        }

    def terminate(
        self, state: object, signal: str, task_id: str | list[str], **options: Any
    ) -> dict[str, str]:
        """Celery's `terminate SIGNAL ID…`: a revoke whose running job its worker kills."""
        return self.revoke(state, task_id)


class RevokeNode(Node):
    """A pidbox node that hears only the broadcasts it has a handler for."""

    def handle_message(self, body: Any, message: Message | None = None) -> None:
        if isinstance(body, dict) and body.get("method") in (self.handlers or {}):
            super().handle_message(body, message)


def _drain(conn: Connection) -> None:
    with contextlib.suppress(TimeoutError):  # no broadcast meanwhile
        conn.drain_events(timeout=POLL_TIMEOUT)
