"""Web benchmark: the two hottest anonymous pages, served by gunicorn over loopback.

Seeds the database in DATABASE_URL (seed_demo, idempotent), starts `gunicorn config.wsgi`
with 2 sync workers and DEBUG off, then measures for the busiest board page `/b/<slug>/`
and a post page `/p/<id>/` with a full first page of comments:

- throughput with 20 concurrent clients (req/s),
- p50 / p95 latency with 2 concurrent clients (ms), i.e. service time without queueing,
- SQL queries per page (in-process Django test client).

Targets at 2 clients: post page p95 <= 25 ms, board page p95 <= 40 ms.

Figures go to stdout as `name = value unit`; progress goes to stderr. Exits non-zero when it
could not measure: the server did not start, a response was not 200, or nothing succeeded.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
HOST = "127.0.0.1"


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    errors: int = 0
    elapsed: float = 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--comments", type=int, default=300_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    args = parser.parse_args(argv)
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            parser.error(f"{name} must be set (or run through `python -m devtools.embedded run`)")

    with tempfile.TemporaryDirectory(prefix="naija-bench-") as tmp:
        env = server_env(Path(tmp))
        seed = f"seed_demo --users {args.users} --posts {args.posts} --comments {args.comments}"
        for step in ("migrate --no-input", seed, "collectstatic --no-input -v0"):
            log(f"manage.py {step}")
            # Child output goes to stderr: stdout carries only the figures.
            command = [PYTHON, "manage.py", *step.split()]
            if subprocess.run(command, cwd=ROOT, env=env, stdout=sys.stderr).returncode:
                raise SystemExit(f"manage.py {step} failed")

        # Same settings in-process, plus the test client's host.
        os.environ.update(env, ALLOWED_HOSTS=f"{HOST},testserver")
        sys.path.insert(0, str(ROOT))
        import django

        from devtools.embedded import free_port

        django.setup()
        posts_seeded, board_url, post_url = pick_pages()
        vacuum()
        queries = {url: count_queries(url) for url in (board_url, post_url)}

        port = args.port or free_port()
        with gunicorn(port, env):
            runs = {
                (url, clients): drive(port, url, clients, args.duration)
                for clients in (20, 2)
                for url in (board_url, post_url)
            }

    errors = sum(run.errors for run in runs.values())
    for label, url in (("board_page", board_url), ("post_page", post_url)):
        many, few = runs[url, 20], runs[url, 2]
        figure(f"{label}_rps_20c", len(many.latencies) / many.elapsed, "req/s")
        figure(f"{label}_p50_2c", percentile(few.latencies, 50) * 1000, "ms")
        figure(f"{label}_p95_2c", percentile(few.latencies, 95) * 1000, "ms")
        figure(f"{label}_queries", queries[url], "queries")
    figure("errors", errors, "requests")
    figure("posts_seeded", posts_seeded, "posts")
    if errors or any(not run.latencies for run in runs.values()):
        log("FAILED: error responses or a measurement without a single successful request")
        return 1
    return 0


def server_env(tmp: Path) -> dict[str, str]:
    """config.settings with DEBUG off. Its manifest static storage needs collectstatic: into
    a scratch STATIC_ROOT, so nothing is written into the repo."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "STATIC_ROOT": str(tmp / "static"),
        "DEBUG": "0",
        "HTTPS": "0",  # plain HTTP on loopback: no redirect to https
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": HOST,
    }


def pick_pages() -> tuple[int, str, str]:
    """The board with the most visible posts, and the most-commented post, topped up to a full
    first page of comments (uniform random seeding leaves even the busiest post short)."""
    from django.conf import settings
    from django.db import transaction
    from django.db.models import Count, F, Q

    from forum.models import Board, Comment, Post

    visible_posts = Count("posts", filter=Q(posts__is_hidden=False))
    board = Board.objects.annotate(n=visible_posts).order_by("-n", "id").first()
    post = Post.objects.filter(is_hidden=False).order_by("-comment_count", "id").first()
    if board is None or post is None:
        raise SystemExit("No posts in the database: seeding failed?")
    missing = settings.FORUM_COMMENTS_PER_PAGE - post.comments.filter(is_hidden=False).count()
    if missing > 0:
        log(f"adding {missing} comments to post {post.pk} for a full first page")
        body = "Na so e be. This one sweet well well."
        with transaction.atomic():
            Comment.objects.bulk_create(
                Comment(post=post, author_id=post.author_id, body=body, body_html=f"<p>{body}</p>")
                for _ in range(missing)
            )
            Post.objects.filter(pk=post.pk).update(comment_count=F("comment_count") + missing)
    log(f"board {board.slug}: {board.n} posts; post {post.pk}: comments page full")
    return Post.objects.count(), f"/b/{board.slug}/", f"/p/{post.pk}/"


def vacuum() -> None:
    """Measure the steady state autovacuum reaches, not seeding's leftovers: recount's UPDATEs
    leave ~2 dead versions per post, and until VACUUM the board COUNT(*) reads the heap
    (~17 ms, not ~1 ms, at 100k posts), for as long as autovacuum waits (or is off)."""
    from django.db import connection

    log("VACUUM (ANALYZE) forum tables")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) forum_post, forum_comment, forum_postlike, forum_board")


def count_queries(url: str) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.get(url)  # first hit fills per-process caches (templates, content types)
    with CaptureQueriesContext(connection) as ctx:
        status = client.get(url).status_code
    if status != 200:
        raise SystemExit(f"{url} answered {status} in-process")
    return len(ctx.captured_queries)


@contextlib.contextmanager
def gunicorn(port: int, env: dict[str, str]) -> Iterator[None]:
    # Access log stays off (gunicorn's default); no control socket left in ~/.gunicorn.
    command = [GUNICORN, "config.wsgi", "--workers", "2", "--bind", f"{HOST}:{port}"]
    command += ["--no-control-socket"]
    log(" ".join(command))
    # Own session: Ctrl-C reaches only us, and we stop gunicorn in `finally`.
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sys.stderr, start_new_session=True)
    try:
        wait_ready(port, proc)
        yield
    finally:
        proc.terminate()  # SIGTERM: graceful shutdown of master and workers
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log("gunicorn stopped")


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode} before answering")
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        with contextlib.suppress(OSError, http.client.HTTPException), contextlib.closing(conn):
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"gunicorn did not answer on {HOST}:{port} within {timeout}s")


def drive(port: int, url: str, clients: int, duration: float) -> Run:
    """Warm up for 1 s, then measure; warm-up errors count too (any non-200 is a failure)."""
    warm = _load(port, url, clients, 1.0)
    run = _load(port, url, clients, duration)
    run.errors += warm.errors
    log(f"{url} x{clients}: {len(run.latencies)} ok, {run.errors} errors in {run.elapsed:.1f}s")
    return run


def _load(port: int, url: str, clients: int, duration: float) -> Run:
    run, lock, start = Run(), threading.Lock(), time.monotonic()
    stop_at = start + duration

    def client() -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        latencies, errors = [], 0
        while time.monotonic() < stop_at:
            began = time.perf_counter()
            try:
                # http.client reconnects by itself after a `Connection: close` response, which
                # is what gunicorn's sync workers send; keep-alive is reused where offered.
                conn.request("GET", url)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                ok = False
            if ok:
                latencies.append(time.perf_counter() - began)
            else:
                errors += 1
        conn.close()
        with lock:
            run.latencies.extend(latencies)
            run.errors += errors

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.elapsed = time.monotonic() - start
    return run


def percentile(values: list[float], pct: int) -> float:
    ok = len(values) >= 2  # quantiles() needs two samples
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] if ok else float("nan")


def figure(name: str, value: float, unit: str) -> None:
    text = f"{value:.1f}" if isinstance(value, float) else str(value)
    print(f"{name} = {text} {unit}", flush=True)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # gunicorn is already stopped by then
        sys.exit(130)
