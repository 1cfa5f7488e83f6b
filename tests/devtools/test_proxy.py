"""devtools/proxy.py, the multi-host runs' load balancer and slow link, on loopback."""

import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devtools.embedded import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


def _proxy(*args: str):
    proc = subprocess.Popen([sys.executable, "-m", "devtools.proxy", *args], cwd=ROOT)
    return proc


@pytest.fixture
def started():
    procs = []

    def start(*args: str, port: int):
        procs.append(_proxy(*args))
        wait_for_port(port, procs[-1], timeout=20)
        return procs[-1]

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


class _Backend:
    """A web host that answers with its name and the X-Forwarded-For it got."""

    def __init__(self, name: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"{name} {self.headers.get('X-Forwarded-For')}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _get(url: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, "", dict(error.headers)


def _balancer(started, *backends: str) -> str:
    """A balancer over `backends` (host:port); returns its URL."""
    port = free_port()
    args = ["balance", "--listen", f"127.0.0.1:{port}"]
    for backend in backends:
        args += ["--to", backend]
    started(*args, port=port)
    return f"http://127.0.0.1:{port}/"


def test_the_balancer_spreads_requests_passes_the_client_on_and_skips_a_dead_host(started):
    one, two = _Backend("one"), _Backend("two")
    url = _balancer(started, one.address, two.address)
    answers = [_get(url) for _ in range(6)]
    assert {status for status, _, _ in answers} == {200}
    assert {body for _, body, _ in answers} == {"one 127.0.0.1", "two 127.0.0.1"}

    one.stop()  # a web host lost: every request goes to the other, none fails
    answers = [_get(url) for _ in range(6)]
    assert [body for _, body, _ in answers] == ["two 127.0.0.1"] * 6

    two.stop()  # none left: 503 with Retry-After, not a hang
    status, _, headers = _get(url)
    assert status == 503 and headers["Retry-After"] == "1"


def test_the_balancer_answers_502_when_a_web_host_closes_without_answering(started):
    mute = socket.create_server(("127.0.0.1", 0))
    threading.Thread(
        target=lambda: [mute.accept()[0].close() for _ in range(3)], daemon=True
    ).start()
    url = _balancer(started, f"127.0.0.1:{mute.getsockname()[1]}")
    assert _get(url)[0] == 502
    mute.close()


def _echo_server() -> int:
    listener = socket.create_server(("127.0.0.1", 0))

    def echo(conn: socket.socket) -> None:
        while data := conn.recv(64):
            conn.sendall(data)

    def serve() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def _round_trip(conn: socket.socket) -> float:
    started = time.monotonic()
    conn.sendall(b"ping")
    assert conn.recv(64) == b"ping"
    return time.monotonic() - started


def test_the_slow_link_adds_its_delay_each_way_between_its_signals(started):
    echo, port = _echo_server(), free_port()
    proxy = started(
        "delay",
        "--listen",
        f"127.0.0.1:{port}",
        "--to",
        f"127.0.0.1:{echo}",
        "--delay",
        "0.25",
        port=port,
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        assert _round_trip(conn) < 0.25  # off at start
        proxy.send_signal(signal.SIGUSR1)
        time.sleep(0.2)
        assert _round_trip(conn) >= 0.5  # on: a quarter second each way, same connection
        proxy.send_signal(signal.SIGUSR2)
        time.sleep(0.2)
        assert _round_trip(conn) < 0.25
