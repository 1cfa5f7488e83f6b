"""A worker's start and stop for `jobs worker …` (solid_queue:start/stop), and the operator's
side of its remote controls (quiet, stop) for that command and the jobs dashboard.

Start and stop by pidfile act on a worker of this host; quiet and stop by name go through
Celery's remote control (Redis), so they reach a worker on any host. A worker that does not
answer within the timeout is reported as such: nothing is sent to it blind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from kombu.exceptions import OperationalError

from jobs.models import Process
from jobs.ops import selectors

_T = TypeVar("_T")

# Where a detached worker started without --logfile writes its logs (git-ignored).
LOG_DIR = "log"
# Seconds the dashboard waits for a worker's answer (the command has --timeout).
REPLY_TIMEOUT = 2.0


def worker_command(
    *,
    queues: str,
    concurrency: int | None,
    pidfile: str | None,
    logfile: str | None,
    loglevel: str | None,
    hostname: str | None = None,
) -> list[str]:
    """The `celery worker` command line; ValueError for a queue that does not exist. Without
    `loglevel` the worker logs at LOG_LEVEL (jobs.worker.logs). The pidfile's and log file's
    folders are made if missing."""
    unknown = set(queues.split(",")) - set(settings.JOB_QUEUES)
    if unknown:
        known = ", ".join(settings.JOB_QUEUES)
        raise ValueError(f"Unknown queue(s) {', '.join(sorted(unknown))}: use {known}.")
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--queues", queues]
    if loglevel:
        command += ["--loglevel", loglevel]
    if hostname:
        command += ["--hostname", hostname]
    if concurrency:
        command += ["--concurrency", str(concurrency)]
    for option, path in (("--pidfile", pidfile), ("--logfile", logfile)):
        if path:
            resolved = Path(path).resolve()
            resolved.parent.mkdir(parents=True, exist_ok=True)
            command += [option, str(resolved)]
    return command


def default_logfile(pidfile: str) -> str:
    """A detached worker's log file when none is given: log/<the pidfile's name>.log."""
    return str(Path(settings.BASE_DIR, LOG_DIR, f"{Path(pidfile).stem}.log"))


def start_detached(command: list[str]) -> None:
    subprocess.run([*command, "--detach"], check=True, cwd=settings.BASE_DIR)


def run_in_this_process(command: list[str]) -> None:
    """The worker takes over this process (it never returns)."""
    os.chdir(settings.BASE_DIR)
    os.execv(sys.executable, command)


def stop(*, pidfile: Path, timeout: float) -> int:
    """Warm shutdown (running jobs finish first) of the worker in `pidfile`; returns its pid
    once it is gone. ValueError with what to do when it cannot."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        raise ValueError(f"No worker pid in {pidfile}: is the worker running?") from None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        raise ValueError(f"No process {pid}: removed the stale pidfile {pidfile}.") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        time.sleep(0.2)
    raise ValueError(
        f"Worker {pid} still finishing its jobs after {timeout:.0f}s; "
        "wait, or run again with a longer --timeout."
    )


def quiet(*, hostname: str, timeout: float = REPLY_TIMEOUT) -> tuple[Process, bool]:
    """Tell the worker `hostname` to take no new job (jobs.worker.control); returns its row
    and whether it changed (False: it was quiet already). ValueError saying what to do when
    there is no such worker or it does not answer."""
    from config.celery import app

    worker = _registered(hostname)
    replies = _send(
        lambda: app.control.broadcast("quiet", destination=[hostname], reply=True, timeout=timeout)
    )
    reply = _reply_of(worker, replies, timeout)
    return worker, bool(reply.get("changed"))


def shutdown(*, hostname: str, timeout: float = REPLY_TIMEOUT) -> Process:
    """Warm shutdown of the worker `hostname` (Celery's `shutdown`: its running jobs finish
    first), once it answered a ping; returns its row. ValueError as for `quiet`."""
    from config.celery import app

    worker = _registered(hostname)
    _reply_of(
        worker, _send(lambda: app.control.ping(destination=[hostname], timeout=timeout)), timeout
    )
    _send(lambda: app.control.shutdown(destination=[hostname]))
    return worker


def wait_gone(*, hostname: str, timeout: float) -> bool:
    """Whether the worker `hostname` left (its row is dropped at a graceful exit) in time."""
    deadline = time.monotonic() + timeout
    while selectors.worker_named(hostname) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _registered(hostname: str) -> Process:
    worker = selectors.worker_named(hostname)
    if worker is None:
        names = ", ".join(selectors.worker_names()) or "none is running"
        raise ValueError(
            f"No worker named {hostname!r}. Give a worker's full name as `jobs processes` "
            f"or the dashboard's Workers tab shows it (workers: {names})."
        )
    return worker


def _send(call: Callable[[], _T]) -> _T:
    try:
        return call()
    except (OperationalError, OSError) as error:
        raise ValueError(
            f"Could not reach Redis to send it ({error}): check REDIS_URL and that Redis runs."
        ) from None


def _reply_of(
    worker: Process, replies: list[dict[str, Any]] | None, timeout: float
) -> dict[str, Any]:
    for reply in replies or []:
        if worker.name in reply:
            answer: dict[str, Any] = reply[worker.name]
            if "error" in answer:
                raise ValueError(f"Worker {worker.name} refused: {answer['error']}")
            return answer
    raise ValueError(
        f"Worker {worker.name} did not answer within {timeout:g} s: it may be starting, "
        "stopping, busy reconnecting to Redis or dead (`jobs processes` shows its last "
        "heartbeat). Try again in a moment."
    )
