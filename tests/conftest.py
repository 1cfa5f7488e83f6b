import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from devtools.embedded import RedisServer
from devtools.sentinel import SentinelCluster
from tests.forum.factories import BoardFactory, UserFactory, moderators_group

PASSWORD = "correct horse battery staple"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def staff(db):
    """is_staff only: lets them into admin and grants no permission (a moderator outside
    the Moderators group)."""
    return UserFactory(is_staff=True)


@pytest.fixture
def moderator(db):
    """Staff in the Moderators group (forum migration 0003): hides content, sees every
    report, reads the jobs dashboard."""
    moderators_group()
    return UserFactory(is_staff=True, groups=["Moderators"])


@pytest.fixture
def admin(db):
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def board(db):
    return BoardFactory()


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


# --- A real Celery worker process ---------------------------------------------------------------


def test_database_url() -> str:
    """DATABASE_URL with the test database's name, for processes the tests start."""
    from django.db import connection

    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


test_database_url.__test__ = False


@pytest.fixture(scope="session", autouse=True)
def _empty_job_queues():
    """Messages left in the test Redis database by an earlier run must not reach our workers:
    the queues, and the unacknowledged copies of a SIGKILLed worker's messages, which the
    next worker would otherwise restore once the visibility timeout passed."""
    import redis
    from django.conf import settings

    from config.celery import app

    app.control.purge()
    redis.Redis.from_url(settings.REDIS_URL).delete("unacked", "unacked_index", "unacked_mutex")


# Heartbeats and recovery in seconds rather than tens of seconds, for the processes tests start.
FAST_RECOVERY = {
    "JOBS_HEARTBEAT_INTERVAL": "0.5",
    "JOBS_PROCESS_ALIVE_THRESHOLD": "3",
    "JOBS_REPUBLISH_AFTER": "3",
}


class Processes:
    """Long-running processes a test starts (workers, dispatchers), stopped at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.running: list[subprocess.Popen] = []

    def start(self, args: list[str], *, env: dict | None = None) -> subprocess.Popen:
        log_path = self.tmp_path / f"process-{len(self.running)}.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                env={
                    **os.environ,
                    "DATABASE_URL": test_database_url(),
                    **FAST_RECOVERY,
                    **(env or {}),
                },
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc.log_path = log_path
        self.running.append(proc)
        return proc

    def worker(
        self,
        *,
        queues: str = "high_priority,default,search,reports",
        concurrency: int = 1,
        env: dict | None = None,
    ) -> subprocess.Popen:
        """A real `celery worker`, returned once it answers a ping."""
        from config.celery import app

        name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        proc = self.start(
            [
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--hostname",
                name,
                "--queues",
                queues,
                "--concurrency",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
                "--include",
                "tests.jobs.sample_jobs",
            ],
            env=env,
        )
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[name], timeout=0.5):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery worker did not start:\n{self.log(proc)}")
        proc.hostname = name
        return proc

    def dispatcher(self, *, env: dict | None = None) -> subprocess.Popen:
        return self.start(["manage.py", "jobs", "dispatcher", "--interval", "0.1"], env=env)

    def log(self, proc: subprocess.Popen) -> str:
        return proc.log_path.read_text()[-4000:]

    def stop_all(self) -> None:
        for proc in reversed(self.running):
            proc.terminate()
        for proc in self.running:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            # pytest shows this only when the test failed
            print(f"--- {' '.join(proc.args[1:4])} (exit {proc.returncode}) ---\n{self.log(proc)}")


@pytest.fixture
def processes(transactional_db, tmp_path):
    from config.celery import app

    app.control.purge()  # a message an earlier test left (a harmless duplicate) stays there
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


@pytest.fixture
def celery_worker(processes):
    """A real Celery worker on every queue, against the test database."""
    return processes.worker()


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    """Tests sign up and post far faster than people; tests/forum/test_ratelimit.py sets them."""
    settings.RATE_LIMITS = {}


@pytest.fixture(autouse=True)
def _publish_not_backed_off():
    """A test that stopped Redis must not leave the next test's publishes backed off."""
    from jobs import base

    base._publish_backoff["until"] = 0.0


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 at full strength costs ~0.5 s a user; tests hash many."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def private_redis(tmp_path, settings):
    """Point this process's Celery app (and workers started with `env`) at a private Redis."""
    from config.celery import app

    server = RedisServer(tmp_path)
    server.start()
    previous = app.conf.broker_url
    _switch_broker(app, server.url)
    settings.REDIS_URL = server.url
    server.env = {"REDIS_URL": server.url}
    yield server
    server.stop()
    _switch_broker(app, previous)


@pytest.fixture
def sentinel_redis(tmp_path, settings):
    """A Redis primary, its replica and three Sentinels (devtools.sentinel); this process's
    Celery app, settings and Redis clients, and workers started with `env`, go through the
    Sentinels."""
    from config.celery import app
    from forum import ratelimit

    with SentinelCluster(tmp_path) as cluster:
        previous_url, previous_options = app.conf.broker_url, app.conf.broker_transport_options
        app.conf.broker_transport_options = {
            **previous_options,
            "master_name": cluster.master,
            "sentinel_kwargs": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
        }
        _switch_broker(app, cluster.url)
        settings.REDIS_URL, settings.REDIS_SENTINEL_MASTER = cluster.url, cluster.master
        ratelimit._client["redis"] = None
        cluster.env = {"REDIS_URL": cluster.url, "REDIS_SENTINEL_MASTER": cluster.master}
        try:
            yield cluster
        finally:
            ratelimit._client["redis"] = None
            app.conf.broker_transport_options = previous_options
            _switch_broker(app, previous_url)


def _switch_broker(app, url: str) -> None:
    from kombu import pools

    if app._pool is not None:
        app._pool.force_close_all()
    pools.reset()  # kombu keeps producer pools per broker URL: start afresh
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None
