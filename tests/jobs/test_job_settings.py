"""The job layer's settings are checked when a process starts."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_threshold_too_close_to_the_heartbeat_interval_is_refused_at_start():
    import sys

    env = {**os.environ, "JOBS_HEARTBEAT_INTERVAL": "5", "JOBS_PROCESS_ALIVE_THRESHOLD": "10"}
    check = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert check.returncode != 0
    assert "JOBS_PROCESS_ALIVE_THRESHOLD must be at least 3 × JOBS_HEARTBEAT_INTERVAL" in (
        check.stderr
    )
