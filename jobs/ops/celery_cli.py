"""`celery -A config result ID` that reports a job's end instead of raising its error.

Celery's own command waits for the result and then calls `get()`, which re-raises a failed
job's exception in the CLI (a Python traceback) and waits forever for a discarded job, whose
result says REJECTED, a state Celery does not count as an end. Ours waits the same way, prints
a finished job's return value, and for a failed, discarded or revoked job one line with its
error on stderr and exit status 1; `--traceback` prints the job's traceback, as Celery's does.

`install()` gives Celery's `result` command this callback (its options are unchanged); it runs
in `celery` processes only (config/celery.py).
"""

from __future__ import annotations

import time
from typing import Any

import click
from celery import states
from celery.bin.base import handle_preload_options

# A job's result is final in these states. REJECTED is a discard (jobs.worker.execution).
ENDED = states.READY_STATES | {states.REJECTED}
ENDINGS = {
    states.FAILURE: "failed",
    states.REJECTED: "was discarded",
    states.REVOKED: "was revoked",
}
POLL_SECONDS = 0.5  # as often as Celery's get() asks the database backend


def install() -> None:
    from celery.bin.result import result as command

    command.callback = click.pass_context(handle_preload_options(result))


def result(ctx: click.Context, task_id: str, task: str | None, traceback: bool) -> None:
    """Print the return value of a job; a failed or discarded job's error (exit status 1)."""
    app = ctx.obj.app
    job_result = (app.tasks[task] if task else app).AsyncResult(task_id)
    if traceback:
        ctx.obj.echo(job_result.traceback)
        return
    while (state := job_result.state) not in ENDED:
        time.sleep(POLL_SECONDS)
    if state == states.SUCCESS:
        ctx.obj.echo(job_result.result)
        return
    ctx.obj.error(f"Job {task_id} {ENDINGS.get(state, state)} ({state}): {_error_text(job_result)}")
    ctx.obj.error(f"Its traceback: celery -A config result --traceback {task_id}")
    ctx.exit(1)


def _error_text(job_result: Any) -> str:
    try:
        error = job_result.result
    except Exception as exc:  # an error class this process cannot import
        return f"its error could not be loaded here ({type(exc).__name__}: {exc})"
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    if isinstance(error, dict) and "exc_type" in error:  # REJECTED keeps it as stored
        message = error.get("exc_message")
        if isinstance(message, list | tuple):
            message = " ".join(str(part) for part in message)
        return f"{error['exc_type']}: {message}"
    return repr(error)
