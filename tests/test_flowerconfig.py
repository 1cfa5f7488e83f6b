"""Flower, started as operators start it (`celery -A config flower` in the project directory,
which runs flowerconfig.py): no password, no start; /metrics asks for the password too."""

import base64
import http.client
import os
import secrets
import subprocess
import sys

import pytest

from devtools.embedded import LAPTOP_DEFAULTS, free_port, wait_for_port
from tests.conftest import ROOT

PRODUCTION = {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "x.test"}
PASSWORD = secrets.token_urlsafe(18)


def flower_env(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FLOWER_")}
    return {**base, **env}


def flower(port: int, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "flower",
        "--address=127.0.0.1",
        f"--port={port}",
        *args,
    ]


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "Flower refuses to start without a password: set FLOWER_BASIC_AUTH"),
        ({"FLOWER_BASIC_AUTH": ""}, "without a password"),
        ({"FLOWER_BASIC_AUTH": ", "}, "without a password"),
        ({"FLOWER_BASIC_AUTH": "ops"}, "must be user:password"),
        ({"FLOWER_BASIC_AUTH": "ops:"}, "must be user:password"),
        ({"FLOWER_BASIC_AUTH": f":{PASSWORD}"}, "must be user:password"),
        ({"FLOWER_BASIC_AUTH": f"ops:{PASSWORD},admin"}, "must be user:password"),
        ({**PRODUCTION}, "without a password"),
        ({**PRODUCTION, "FLOWER_BASIC_AUTH": "admin:change-me"}, "an example value"),
        ({**PRODUCTION, "FLOWER_BASIC_AUTH": "admin:naija-admin"}, "an example value"),
        ({**PRODUCTION, "FLOWER_BASIC_AUTH": "ops:elevenchars"}, "shorter than 12 characters"),
    ],
    ids=[
        "unset",
        "empty",
        "commas",
        "no-colon",
        "no-password",
        "no-user",
        "one-bad-of-two",
        "production-unset",
        "compose-default",
        "dev-default-in-production",
        "short",
    ],
)
def test_flower_refuses_to_start_without_a_real_password(env, says):
    port = free_port()
    result = subprocess.run(
        flower(port),
        cwd=ROOT,
        env=flower_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert says in result.stderr, result.stderr[-2000:]
    assert PASSWORD not in result.stderr  # never echoes a password


OPS = f"ops:{PASSWORD}"
#       environment, flower arguments, the credentials it takes
STARTS = {
    "production, from the environment": ({**PRODUCTION, "FLOWER_BASIC_AUTH": OPS}, [], OPS),
    "production, from the command line": (PRODUCTION, [f"--basic-auth={OPS}"], OPS),
    "make dev's laptop defaults": (LAPTOP_DEFAULTS, [], LAPTOP_DEFAULTS["FLOWER_BASIC_AUTH"]),
}


@pytest.mark.parametrize(("env", "args", "credentials"), STARTS.values(), ids=STARTS.keys())
def test_flowers_pages_api_and_metrics_ask_for_its_password(env, args, credentials):
    port = free_port()
    password = credentials.partition(":")[2]
    proc = subprocess.Popen(
        flower(port, *args),
        cwd=ROOT,
        env=flower_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc, timeout=60)

        def status(path: str, auth: str | None = None) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            token = base64.b64encode((auth or "").encode()).decode()
            conn.request("GET", path, headers={"Authorization": f"Basic {token}"} if auth else {})
            return conn.getresponse().status

        for path in ("/metrics", "/", "/api/workers", "/tasks"):
            assert status(path) == 401, path
            assert status(path, "ops:wrong") == 401, path
            assert status(path, f"someone:{password}") == 401, path
        assert status("/metrics", credentials) == 200
        assert status("/", credentials) == 200
        assert status("/healthcheck") == 200  # for container health checks: says only "OK"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
