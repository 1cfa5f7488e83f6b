"""Outcomes of runs waiting to be written: `OutcomeBuffer`, one statement per batch.

Successful runs' outcomes are written in batches by a timer thread, every 100 ms or 500
jobs (docs/PERFORMANCE.md); failures, retries and discards at once (jobs.worker.execution).
"""

from __future__ import annotations

import logging
import threading

import psycopg

from jobs.ledger import writes

logger = logging.getLogger("jobs")


class OutcomeBuffer:
    """Outcomes waiting to be written, at most one per job (its latest attempt's).

    A batch PostgreSQL did not take because it was away (restarting, failing over) is kept
    and tried again every `retry_delay`: its process is alive and heartbeating, so orphan
    recovery would never look at those jobs, and they would stay claimed. A batch refused for
    any other reason is written one outcome at a time, so that one bad outcome cannot take
    the others with it; an outcome refused even alone releases its job
    (`writes.release_unrecorded`). No outcome is dropped while its job is claimed.
    """

    def __init__(
        self, *, max_jobs: int = 500, max_delay: float = 0.1, retry_delay: float = 1.0
    ) -> None:
        self.max_jobs, self.max_delay, self.retry_delay = max_jobs, max_delay, retry_delay
        self.pending: dict[str, writes.Outcome] = {}
        self.lock = threading.Lock()
        self.timer: threading.Timer | None = None

    def add(self, outcome: writes.Outcome, *, now: bool = False) -> None:
        """Queue an outcome; `now` writes it (and what waits with it) before returning,
        unless PostgreSQL is away."""
        with self.lock:
            writes.keep_latest(self.pending, [outcome])
            now = now or len(self.pending) >= self.max_jobs
            if not now:
                self._arm(self.max_delay)
        if now:
            self.flush()

    def flush(self, **_signal_kwargs: object) -> None:
        with self.lock:
            batch, self.pending = list(self.pending.values()), {}
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
        if not batch:
            return
        try:
            writes.conclude(batch)
        except OUTAGE as error:
            self._hold(batch, error)
        except Exception as error:  # not an outage: find the outcome PostgreSQL refuses
            logger.warning(
                "job.outcomes_refused count=%d error=%s: %s; writing them one by one",
                len(batch),
                type(error).__name__,
                error,
            )
            self._write_one_by_one(batch)

    def _write_one_by_one(self, batch: list[writes.Outcome]) -> None:
        for index, outcome in enumerate(batch):
            try:
                writes.conclude([outcome])
            except OUTAGE as error:
                self._hold(batch[index:], error)
                return
            except Exception as error:
                try:
                    self._release(outcome, error)
                except OUTAGE as outage:
                    self._hold(batch[index:], outage)
                    return
                except Exception:  # PostgreSQL refuses even that: say which job, loudly
                    logger.exception(
                        "job.outcome_lost id=%s attempt=%d: left claimed",
                        outcome.job_id,
                        outcome.attempt,
                    )

    @staticmethod
    def _release(outcome: writes.Outcome, error: Exception) -> None:
        reason = (
            f"attempt {outcome.attempt} ended {outcome.state}, but PostgreSQL refused to "
            f"record it: {type(error).__name__}: {error}"
        ).replace("\x00", "\ufffd")
        state = writes.release_unrecorded(outcome, reason)
        logger.error(
            "job.outcome_unrecorded id=%s attempt=%d outcome=%s error=%s: %s → %s",
            outcome.job_id,
            outcome.attempt,
            outcome.state,
            type(error).__name__,
            error,
            state or "already taken over, nothing written",
            extra={"job_id": outcome.job_id, "attempt": outcome.attempt},
        )

    def _hold(self, batch: list[writes.Outcome], error: Exception) -> None:
        logger.warning(
            "job.outcomes_unwritten count=%d ids=%s error=%s: trying again in %.0f s",
            len(batch),
            ",".join(o.job_id for o in batch[:20]),
            error,
            self.retry_delay,
        )
        with self.lock:
            newer, self.pending = self.pending, {}
            writes.keep_latest(self.pending, batch)
            writes.keep_latest(self.pending, newer.values())  # added meanwhile: newer
            self._arm(self.retry_delay)

    def _arm(self, delay: float) -> None:
        """Start the flush timer unless one is running (the lock is held)."""
        if self.timer is None:
            self.timer = threading.Timer(delay, self.flush)
            self.timer.daemon = True
            self.timer.start()


# PostgreSQL away (restarting, failing over, unreachable): an outcome is kept, not released.
OUTAGE = (psycopg.OperationalError, psycopg.InterfaceError)
