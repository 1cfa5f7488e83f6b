"""`make dev` / `make test` on a machine with nothing but Python: the embedded servers."""

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import os, psycopg, redis
r = redis.Redis.from_url(os.environ["REDIS_URL"])
print("seen-before", r.get("marker"))
r.set("marker", "kept")
url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://")
with psycopg.connect(url, autocommit=True) as db:
    db.execute("CREATE TABLE IF NOT EXISTS marker (n int)")
    db.execute("INSERT INTO marker VALUES (1)")
    print("rows", db.execute("SELECT count(*) FROM marker").fetchone()[0])
print("redis-port", r.connection_pool.connection_kwargs["port"])
"""


def run_embedded(data_dir: Path, child: str = CHILD) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["NAIJA_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "devtools.embedded", "run", "--", sys.executable, "-c", child],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        start_new_session=True,  # its own process group, as a terminal gives `make dev`
    )


def run_ok(data_dir: Path) -> str:
    result = run_embedded(data_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Failed" not in result.stderr, result.stderr  # pgserver's "Failed to stop server"
    return result.stdout


def test_embedded_servers_start_keep_their_data_and_stop(tmp_path):
    first = run_ok(tmp_path)
    assert "seen-before None" in first
    assert "rows 1" in first

    second = run_ok(tmp_path)  # a second `make dev` reuses the data
    assert "seen-before b'kept'" in second
    assert "rows 2" in second

    port = int(second.split("redis-port ")[1].split()[0])
    with socket.socket() as s:  # Redis stopped with the command
        assert s.connect_ex(("127.0.0.1", port)) != 0
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()  # PostgreSQL too


CTRL_C = """
import os, signal
pid_file = os.path.join(os.environ["NAIJA_DATA_DIR"], "postgres", "postmaster.pid")
print("pid", open(pid_file).readline())
signal.signal(signal.SIGINT, signal.SIG_DFL)  # die of it, as a server would, not a traceback
os.killpg(os.getpgrp(), signal.SIGINT)  # what Ctrl-C in a terminal does to `make dev`
"""


def test_ctrl_c_stops_the_embedded_servers_quietly(tmp_path):
    result = run_embedded(tmp_path, CTRL_C)
    output = result.stdout + result.stderr
    assert "pid" in result.stdout, output
    assert not (tmp_path / "postgres" / "postmaster.pid").exists(), output
    assert "Failed" not in output and "Traceback" not in output, output
    assert "stopping embedded Redis" in output


TERMINATED = """
import os, signal, time
pid_file = os.path.join(os.environ["NAIJA_DATA_DIR"], "postgres", "postmaster.pid")
print("pid", open(pid_file).readline(), flush=True)
os.kill(os.getppid(), signal.SIGTERM)  # a process manager stopping `make dev`, not a terminal
time.sleep(60)  # until the SIGTERM passed on to us ends this
"""


def test_sigterm_stops_the_command_and_the_embedded_servers(tmp_path):
    result = run_embedded(tmp_path, TERMINATED)
    output = result.stdout + result.stderr
    assert "pid" in result.stdout, output
    assert result.returncode != 0, output  # the command was stopped, not left to finish
    assert not (tmp_path / "postgres" / "postmaster.pid").exists(), output
    assert "stopping embedded Redis" in output


def test_laptop_defaults_come_from_make_dev_and_never_override_what_is_set():
    probe = "import os; print(os.environ['DEBUG'], os.environ['FLOWER_BASIC_AUTH'])"
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "FLOWER_BASIC_AUTH")}

    def run(**env: str) -> str:
        command = [sys.executable, "-m", "devtools.embedded", "run", "--", sys.executable, "-c"]
        result = subprocess.run(
            [*command, probe],
            cwd=ROOT,
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    # DATABASE_URL and REDIS_URL are set by the test run: no embedded server starts here.
    assert run() == "1 admin:naija-admin"
    assert run(DEBUG="0", FLOWER_BASIC_AUTH="ops:elsewhere") == "0 ops:elsewhere"
