"""Workers log where and at the level the operator set: a detached worker into its log file,
which survives logrotate (a moved file, then SIGHUP), and at LOG_LEVEL unless the command
line's --loglevel says otherwise."""

import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from config.celery import app
from jobs.models import State
from jobs.tasks import PruneJobsJob
from tests.conftest import FAST_RECOVERY, ROOT, test_database_url
from tests.jobs.helpers import wait_for, wait_for_state
from tests.jobs.sample_jobs import RecordJob
from tests.test_settings import load_settings

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def manage_worker(*args: str) -> subprocess.CompletedProcess:
    """`python manage.py jobs worker …` as an operator runs it."""
    env = {**os.environ, "DATABASE_URL": test_database_url(), **FAST_RECOVERY, "LOG_LEVEL": "INFO"}
    return subprocess.run(
        [sys.executable, "manage.py", "jobs", "worker", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


class Daemon:
    """A worker started by `jobs worker start --daemon`; stopped by `jobs worker stop`."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.hostname = f"celery@{socket.gethostname()}"  # Celery's default name
        self.pidfile = tmp_path / f"worker-{uuid.uuid4().hex[:8]}.pid"
        self.started = manage_worker(
            "start",
            "--daemon",
            "--pidfile",
            str(self.pidfile),
            "--queues",
            "default",
            "--concurrency",
            "1",
            *args,
        )
        assert self.started.returncode == 0, self.started.stderr
        wait_for(
            lambda: app.control.ping(destination=[self.hostname], timeout=0.5),
            timeout=60,
            message="the detached worker to answer",
        )

    @property
    def pid(self) -> int:
        return int(self.pidfile.read_text())

    def stop(self) -> None:
        if self.pidfile.exists():
            stopped = manage_worker("stop", "--pidfile", str(self.pidfile))
            assert stopped.returncode == 0, stopped.stderr


@pytest.fixture
def daemons(tmp_path):
    started: list[Daemon] = []

    def start(*args: str) -> Daemon:
        started.append(Daemon(tmp_path, *args))
        return started[-1]

    yield start
    for daemon in started:
        daemon.stop()


def text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_a_detached_worker_logs_to_its_file_and_a_rotated_file_starts_anew(daemons, tmp_path):
    log = tmp_path / "worker.log"
    worker = daemons("--logfile", str(log))
    wait_for(lambda: f"{worker.hostname} ready." in text(log), message="the ready line")
    first = PruneJobsJob.delay(7).id
    wait_for_state(first, State.FINISHED)
    # job.finish is logged by the pool process that ran the job, before its outcome is written
    assert f"job.finish class=PruneJobsJob id={first}" in text(log)

    # logrotate: move the file, then HUP the worker (its postrotate)
    rotated = log.rename(tmp_path / "worker.log.1")
    pid = worker.pid
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: "logs.reopened" in text(log), message="the worker to open a new file")
    second = PruneJobsJob.delay(7).id
    wait_for_state(second, State.FINISHED)

    new = text(log)
    assert f"PruneJobsJob[{second}] received" in new  # the main process (it got the HUP)
    assert f"job.finish class=PruneJobsJob id={second}" in new  # a pool process (it did not)
    assert second not in rotated.read_text() and first in rotated.read_text()
    # Reopened, not restarted (Celery's own SIGHUP restarts a detached worker)
    assert "ready." not in new and worker.pid == pid
    assert app.control.ping(destination=[worker.hostname], timeout=2)


def test_a_detached_worker_without_a_logfile_logs_into_the_ignored_log_folder(daemons):
    worker = daemons()
    log = ROOT / "log" / f"{worker.pidfile.stem}.log"
    try:
        assert f"logs in {log}" in worker.started.stdout
        wait_for(lambda: f"{worker.hostname} ready." in text(log), message="the ready line")
        worker.stop()
    finally:
        log.unlink(missing_ok=True)
    # What the README's commands write stays out of git: logs and tmp/pids/worker.pid.
    paths = [f"log/{log.name}", "tmp/pids/worker.pid"]
    ignored = subprocess.run(
        ["git", "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True
    )
    assert ignored.stdout.split() == paths


# (environment, extra command-line arguments, queue of its own, logs DEBUG?, logs INFO?)
LEVELS = [
    ({"LOG_LEVEL": "DEBUG"}, [], "search", True, True),
    ({"LOG_LEVEL": "WARNING"}, [], "reports", False, False),
    ({"LOG_LEVEL": "WARNING"}, ["--loglevel", "DEBUG"], "high_priority", True, True),
]


def test_a_bare_celery_worker_logs_at_log_level_unless_its_loglevel_flag_is_given(processes):
    started = []
    for env, extra, queue, _, _ in LEVELS:
        hostname = f"level-{queue}-{uuid.uuid4().hex[:6]}@localhost"
        command = ["-m", "celery", "-A", "config", "worker", "--hostname", hostname]
        command += ["--queues", queue, "--concurrency", "1", "--without-gossip"]
        command += ["--without-mingle", "--include", "tests.jobs.sample_jobs", *extra]
        started.append((processes.start(command, env=env), hostname))
    names = [hostname for _, hostname in started]
    wait_for(
        lambda: len(app.control.ping(destination=names, timeout=0.5)) == len(names),
        timeout=60,
        message="the workers to answer",
    )
    for (proc, _), (_, _, queue, debug, info) in zip(started, LEVELS, strict=True):
        job = RecordJob.apply_async([queue], queue=queue).id
        wait_for_state(job, State.FINISHED)
        output = proc.log_path.read_text()
        assert (f"job.start class=RecordJob id={job}" in output) is debug, queue
        assert (f"job.finish class=RecordJob id={job}" in output) is info, queue


def test_a_log_level_that_is_no_level_stops_the_start_with_the_levels_to_use():
    result = load_settings(LOG_LEVEL="loud", DEBUG="1")
    assert result.returncode != 0
    assert (
        "LOG_LEVEL='LOUD' is not a log level: use one of DEBUG, INFO, WARNING, ERROR, CRITICAL."
        in result.stderr
    )
