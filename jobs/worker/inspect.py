"""Remote-control inspect commands of ours, answered by workers from the ledger.

    celery -A config inspect ledger_scheduled [limit]    the ledger's scheduled jobs

Celery's `inspect scheduled` lists the ETA messages a worker holds in memory. The job layer
keeps a job due later in PostgreSQL until it is due (the dispatcher publishes it then), so no
worker holds it and `inspect scheduled` stays empty; `ledger_scheduled` lists those jobs in
the same shape (eta, priority, request), soonest due first, with the total.

`register()` runs where every worker and the `celery` CLI import it (config/celery.py): the
CLI accepts only commands registered in its own process. The ledger is read in the worker's
main process, whose database connection is closed again at once: that process forks new pool
processes, which must not share it.
"""

from __future__ import annotations

import functools
from typing import Any

from celery.worker.control import inspect_command

# Each worker's reply goes through the broker: a bounded list, and the total.
LEDGER_SCHEDULED_LIMIT = 100
LEDGER_SCHEDULED_MAX = 1000


@functools.cache
def register() -> None:
    """Make our inspect commands known to Celery's remote control, once per process."""
    inspect_command(
        args=[("limit", int)],
        signature=f"[limit={LEDGER_SCHEDULED_LIMIT}]",
    )(ledger_scheduled)


def ledger_scheduled(_state: Any, limit: int = LEDGER_SCHEDULED_LIMIT, **_: Any) -> dict[str, Any]:
    """The ledger's scheduled jobs (what `inspect scheduled` cannot see), soonest first."""
    if not 1 <= limit <= LEDGER_SCHEDULED_MAX:
        return {"error": f"limit must be from 1 to {LEDGER_SCHEDULED_MAX}, not {limit}."}
    from django.db import DatabaseError, connection

    from jobs.ops import selectors

    try:
        total, jobs = selectors.scheduled_jobs(limit=limit)
    except DatabaseError as error:
        return {"error": f"the ledger (PostgreSQL) did not answer: {error}".strip()}
    finally:
        connection.close()
    return {
        "total": total,
        "scheduled": [
            {
                "eta": job.scheduled_at.isoformat(),
                "priority": job.priority,
                "request": {
                    "id": str(job.id),
                    "name": job.class_name,
                    "args": selectors.mask(job.args),
                    "kwargs": selectors.mask(job.kwargs),
                    "queue": job.queue,
                    "attempts": job.attempts,
                },
            }
            for job in jobs
        ],
    }
