"""Starting and stopping a Celery worker for `jobs worker start|stop` (solid_queue:start/stop)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

# Where a detached worker started without --logfile writes its logs (git-ignored).
LOG_DIR = "log"


def worker_command(
    *,
    queues: str,
    concurrency: int | None,
    pidfile: str | None,
    logfile: str | None,
    loglevel: str | None,
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
