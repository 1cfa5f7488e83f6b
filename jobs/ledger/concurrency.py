"""Concurrency controls: at most N jobs per key at a time (Solid Queue's limits_concurrency).

    @register
    class ReportGenerationJob(ApplicationJob):
        limits_concurrency = ConcurrencyLimit(
            key=lambda report_type, parameters, user_id: user_id, to=1,
            duration=timedelta(minutes=30),
        )

A job holds a slot of its key while it is `ready` or `claimed`. The count comes from the
ledger itself, under a transaction-scoped advisory lock on the key, so no separate semaphore
can drift from the jobs it counts. A job that finds its key full waits `blocked` (or is
discarded: `on_conflict="discard"`, the unique-job behaviour); the dispatcher releases
blocked jobs in order (priority, then age) as slots free up. `duration` bounds a slot held
by a job that never ended: after it, the job no longer counts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from django.db import connection, transaction

from jobs.ledger import writes
from jobs.models import Job, State

# The slot of a ready job counts from its publish, of a claimed one from its claim.
_HOLDERS = """
    SELECT concurrency_key, count(*) FROM jobs_job
    WHERE concurrency_key = ANY(%s) AND state IN ('ready', 'claimed')
      AND CASE WHEN state = 'claimed' THEN claimed_at ELSE coalesce(published_at, created_at)
          END > now() - make_interval(secs => concurrency_duration)
    GROUP BY concurrency_key
"""


@dataclasses.dataclass(frozen=True)
class ConcurrencyLimit:
    key: Callable[..., object]  # called with the job's arguments
    to: int = 1
    duration: timedelta = timedelta(minutes=15)
    on_conflict: str = "block"  # or "discard"
    group: str = ""  # jobs of several classes can share keys; default: the class name

    def __post_init__(self) -> None:
        if self.on_conflict not in ("block", "discard"):
            raise ValueError("on_conflict must be 'block' or 'discard'.")
        if self.to < 1:
            raise ValueError("A concurrency limit must allow at least one job (to >= 1).")

    def key_for(self, class_name: str, args: list[Any], kwargs: dict[str, Any]) -> str:
        return f"{self.group or class_name}:{self.key(*args, **kwargs)}"


def admit(jobs: Sequence[writes.NewJob]) -> list[writes.NewJob]:
    """Decide ready/blocked/discarded for new ready jobs that carry a concurrency key.

    Must run in the transaction that inserts them: the key locks are held until it ends.
    """
    keyed = [job for job in jobs if job.concurrency_key and job.state == State.READY]
    if not keyed:
        return list(jobs)
    keys = sorted({job.concurrency_key for job in keyed})
    held = _lock_and_count(keys)
    waiting = _keys_with_blocked(keys)
    decided = {}
    for job in keyed:
        key = job.concurrency_key
        if key not in waiting and held.get(key, 0) < job.concurrency_limit:
            held[key] = held.get(key, 0) + 1
            continue
        if job.on_conflict == "discard":
            reason = (
                f"discarded: {job.concurrency_limit} {job.class_name} job(s) with key "
                f"{key!r} already pending (on_conflict='discard')"
            )
            decided[job.id] = dataclasses.replace(job, state=State.DISCARDED, error=reason)
        else:
            waiting.add(key)  # later jobs of this key queue behind this one
            decided[job.id] = dataclasses.replace(job, state=State.BLOCKED)
    return [decided.get(job.id, job) for job in jobs]


def release_blocked(*, max_keys: int = 200) -> list[Job]:
    """blocked → ready where a key has free slots; published by the caller before commit."""
    # Each key with blocked jobs, and the limit its next job (in release order) carries.
    limits = dict(
        Job.objects.blocked()
        .order_by("concurrency_key", "priority", "created_at")
        .distinct("concurrency_key")
        .values_list("concurrency_key", "concurrency_limit")[:max_keys]
    )
    if not limits:
        return []
    released: list[Job] = []
    held = _lock_and_count(sorted(limits))
    for key, limit in limits.items():
        free = limit - held.get(key, 0)
        if free > 0:
            released += writes.unblock(key=key, limit=free)
    return released


def _lock_and_count(keys: list[str]) -> dict[str, int]:
    assert transaction.get_connection().in_atomic_block, "hold key locks in a transaction"
    with connection.cursor() as cursor:
        # Sorted keys, one order for every caller: no deadlock between two lockers.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 7)) FROM unnest(%s::text[]) k",
            [keys],
        )
        cursor.execute(_HOLDERS, [keys])
        return dict(cursor.fetchall())


def _keys_with_blocked(keys: list[str]) -> set[str]:
    return set(
        Job.objects.blocked()
        .filter(concurrency_key__in=keys)
        .values_list("concurrency_key", flat=True)
        .distinct()
    )
