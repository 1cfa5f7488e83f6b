import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.forum.factories import BoardFactory, UserFactory

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
    return UserFactory(is_staff=True)


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
    """Messages left in the test Redis database by an earlier run must not reach our workers."""
    from config.celery import app

    app.control.purge()


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """Start `celery worker` on every queue against the test database; stop it afterwards."""
    from config.celery import app

    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--hostname", name,
             "--queues", "high_priority,default,search,reports", "--concurrency", "1",
             "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": test_database_url()},
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[name], timeout=0.5):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"celery worker did not start (exit {proc.returncode}):\n"
                    + log_path.read_text()[-3000:]
                )
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 at full strength costs ~0.5 s a user; tests hash many."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
