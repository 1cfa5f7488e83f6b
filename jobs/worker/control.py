"""Remote control commands of ours, run by a worker's main process when an operator sends
them through Celery's broadcast (so they reach workers on any host): registered with
Celery's `control_command` by `register()`, which config/celery.py calls, so that the
`celery` CLI knows them too (it imports no Django model: it runs before Django is set up).

    quiet   take no new job, from now until the worker restarts (Sidekiq's quiet): every
            queue's consumer is cancelled, and the consumer refuses to start one again
            (jobs.worker.consumer); the jobs it already holds, running or prefetched, run
            to their end. The worker's jobs.Process row says since when it is quiet.

`celery -A config control quiet --destination NAME` sends it too. Stopping a worker is
Celery's own `shutdown` (a warm shutdown). The operator's side: jobs.ops.worker_control.
"""

from __future__ import annotations

import functools
from typing import Any

from celery.worker.control import control_command


@functools.cache
def register() -> None:
    control_command()(quiet)


def quiet(state: Any, **_kwargs: object) -> dict[str, object]:
    """Stop taking new jobs; the running ones finish."""
    from jobs.worker import processes  # Django's models: set up by the time a worker runs it

    consumer = state.consumer
    changed = processes.mark_quiet()
    for queue in sorted({queue.name for queue in consumer.task_consumer.queues}):
        consumer.call_soon(consumer.cancel_task_queue, queue)
    return {"ok": "quiet", "changed": changed}
