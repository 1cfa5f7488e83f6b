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

`Control` is the app's remote control (config/celery.py gives it to Celery), with a bound on
how long a worker retries a reply (`Mailbox`).
"""

from __future__ import annotations

import functools
from typing import Any

from celery.app.control import Control as CeleryControl
from celery.worker.control import control_command
from kombu import pidbox

# One reconnect, at once: a reply nobody can receive must not hold the worker's event loop.
# kombu's Producer.publish also copies it into the connection's transport_options, so that
# connection's default_channel reconnects at most once as well (a new one after each reconnect).
REPLY_RETRY_POLICY = {"max_retries": 1, "interval_start": 0}


@functools.cache
def register() -> None:
    control_command()(quiet)


class Mailbox(pidbox.Mailbox):
    """kombu publishes a remote-control reply with retry=True and no limit, on the worker's
    event loop: if Redis went away between a broadcast (an inspect, the heartbeat's own
    `active_queues`) and the reply, the loop slept and retried until Redis returned, and the
    worker never noticed the lost connection. Bounded, the publish error reaches Celery's
    Pidbox.on_message, which resets the pidbox, and the consumer reconnects as after any
    connection loss (docs/PERFORMANCE.md, issue 20)."""

    def _publish_reply(self, *args: Any, **opts: Any) -> None:
        opts.setdefault("retry_policy", REPLY_RETRY_POLICY)
        super()._publish_reply(*args, **opts)


class Control(CeleryControl):
    Mailbox = Mailbox


def quiet(state: Any, **_kwargs: object) -> dict[str, object]:
    """Stop taking new jobs; the running ones finish."""
    from jobs.worker import processes  # Django's models: set up by the time a worker runs it

    consumer = state.consumer
    changed = processes.mark_quiet()
    for queue in sorted({queue.name for queue in consumer.task_consumer.queues}):
        consumer.call_soon(consumer.cancel_task_queue, queue)
    return {"ok": "quiet", "changed": changed}
