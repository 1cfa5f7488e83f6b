"""Starting and stopping a Celery worker for `jobs worker start|stop` (solid_queue:start/stop)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings


def worker_command(
    *,
    queues: str,
    concurrency: int | None,
    pidfile: str | None,
    logfile: str | None,
    loglevel: str,
) -> list[str]:
    """The `celery worker` command line; ValueError for a queue that does not exist."""
    unknown = set(queues.split(",")) - set(settings.JOB_QUEUES)
    if unknown:
        known = ", ".join(settings.JOB_QUEUES)
        raise ValueError(f"Unknown queue(s) {', '.join(sorted(unknown))}: use {known}.")
    command = [sys.executable, "-m", "celery", "-A", "config", "worker"]
    command += ["--queues", queues, "--loglevel", loglevel]
    if concurrency:
        command += ["--concurrency", str(concurrency)]
    if pidfile:
        command += ["--pidfile", str(Path(pidfile).resolve())]
    if logfile:
        command += ["--logfile", str(Path(logfile).resolve())]
    return command


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
