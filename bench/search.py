"""Search benchmark on the database of --database-url / DATABASE_URL (1,000,000 posts from
`manage.py seed_demo --posts 1000000`).

Migrates the database, builds any missing or stale index rows (`search reindex`), and plants
marker words in existing posts (idempotent) so each frequency class exists: seed_demo's
vocabulary has no rare word and nothing between 0.1% and 3%. Then measures:

- search_posts latency, first page, relevance order, p50 / p95 for a rare term (50 posts),
  an uncommon one (0.5% of posts), a mid-frequency one (a title word, ~3%) and a very common
  one (in ~all posts);
- reindex throughput (posts/s, 2 connections as the command's default): a first build of
  the newest 100,000 posts, the same again unchanged, and the busiest board rebuilt;
- index lag, post created (committed) → found by search_posts, p50 / p95, with a real
  Celery worker and the job dispatcher on a private redis-server.

Targets: latency p95 <= 50 ms per term class; reindex >= 5,000 posts/s; lag p95 <= 2 s.
Figures go to stdout as `name = value unit`, progress to stderr. Exits non-zero when a
figure could not be measured.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable

from bench.jobs import django_on_private_redis, log, ms, pct, process  # noqa: E402 -- after the path is set

# Marker words and the share of posts that get them (every Nth post by id).
PLANTED = {"rare": ("zuzutu", 20_000), "uncommon": ("kpekere", 200)}
MID_TERM, COMMON_TERM = "timetable", "naira"
REINDEX_WORKERS = 2  # as `manage.py search reindex` by default


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--samples", type=int, default=200, help="searches per term class")
    parser.add_argument("--lag-posts", type=int, default=100)
    parser.add_argument("--reindex-posts", type=int, default=100_000)
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("pass --database-url or set DATABASE_URL")

    bench_env = {"DATABASE_URL": args.database_url}
    with django_on_private_redis("naija-search-bench-", **bench_env) as (_redis_url, tmp):
        figures: list[tuple[str, str, str]] = []
        posts = prepare_index()
        figures.append(("posts", f"{posts}", "posts"))
        figures += latency(args.samples)
        figures += reindex_throughput(args.reindex_posts)
        figures += lag(tmp, args.lag_posts)
    for name, value, unit in figures:
        print(f"{name} = {value} {unit}")
    return 0


def prepare_index() -> int:
    """Index rows for every post at the current version, and the planted marker words."""
    from django.db import connection

    from forum.models import Post
    from search import services

    with connection.cursor() as cursor:
        for term, every in PLANTED.values():
            cursor.execute(
                "UPDATE forum_post SET body = body || ' ' || %s "
                "WHERE id %% %s = 7 AND strpos(body, %s) = 0",
                [term, every, term],
            )
            if cursor.rowcount:
                log(f"planted {term!r} in {cursor.rowcount} posts")
                cursor.execute(
                    "UPDATE search_postsearchindex SET dirty = true WHERE post_id %% %s = 7",
                    [every],
                )
        cursor.execute(
            "SELECT count(*) FROM forum_post p WHERE NOT EXISTS "
            "(SELECT 1 FROM search_postsearchindex i WHERE i.post_id = p.id)"
        )
        (missing,) = cursor.fetchone()
    if missing:
        log(f"{missing} posts have no index row: manage.py search reindex (a few minutes)")
        call = [PYTHON, "manage.py", "search", "reindex"]
        if subprocess.run(call, cwd=ROOT, stdout=sys.stderr).returncode:
            raise SystemExit("manage.py search reindex failed")
    swept = services.sweep(time_budget=3600)
    log(f"swept {swept} dirty or stale rows")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) search_postsearchindex")
    return Post.objects.count()


def latency(samples: int) -> list[tuple[str, str, str]]:
    from django.db import connection

    from search.selectors import search_posts

    classes = {name: term for name, (term, _) in PLANTED.items()}
    classes.update(mid=MID_TERM, common=COMMON_TERM)
    figures = []
    for name, term in classes.items():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM search_postsearchindex "
                "WHERE vector @@ websearch_to_tsquery('english', %s)",
                [term],
            )
            (matches,) = cursor.fetchone()
        for _ in range(5):  # warm up: plans and pages, as on a live site
            search_posts(query=term)
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            results = search_posts(query=term)
            times.append(time.perf_counter() - started)
            if not results.hits:
                raise SystemExit(f"no results for {term!r}: the index is not built")
        log(f"{name} {term!r}: {matches} matches")
        figures += [
            (f"search_{name}_matches", f"{matches}", "posts"),
            (f"search_{name}_p50", ms(pct(times, 50)), "ms"),
            (f"search_{name}_p95", ms(pct(times, 95)), "ms"),
        ]
    return figures


def reindex_throughput(posts: int) -> list[tuple[str, str, str]]:
    """`fresh`: the newest `posts` posts after their index rows are deleted (a first build);
    `unchanged`: the same posts again (rows that would not change are not rewritten);
    `board`: the busiest board, after its rows' vectors are cleared (scattered ids)."""
    from django.db.models import Count

    from forum.models import Board, Post
    from search import services
    from search.models import PostSearchIndex

    newest = Post.objects.order_by("-id").values_list("id", flat=True)[posts - 1 : posts]
    after = (newest.first() or 1) - 1
    board = Board.objects.annotate(n=Count("posts")).order_by("-n").first()

    def timed(name: str, **kwargs) -> tuple[str, str, str]:
        started = time.perf_counter()
        done = sum(services.reindex(**kwargs, workers=REINDEX_WORKERS))
        elapsed = time.perf_counter() - started
        if not done:
            raise SystemExit(f"reindex {name}: nothing reindexed")
        log(f"reindex {name}: {done} posts in {elapsed:.1f}s")
        return (f"reindex_{name}_throughput", f"{done / elapsed:.0f}", "posts/s")

    PostSearchIndex.objects.filter(post_id__gt=after).delete()
    figures = [timed("fresh", resume_after=after), timed("unchanged", resume_after=after)]
    PostSearchIndex.objects.filter(board_id=board.pk).update(vector=None)
    figures.append(timed("board", board=board))
    return figures


def lag(tmp: Path, n: int) -> list[tuple[str, str, str]]:
    """Create posts one by one through forum.services, as the web would, and time how long
    each takes to be found by search_posts with a worker and the dispatcher running."""
    from forum import services as forum
    from forum.models import Board, User
    from search.selectors import search_posts

    author = User.objects.order_by("id").first()
    board = Board.objects.order_by("id").first()
    if author is None or board is None:
        raise SystemExit("the database has no users or boards: run seed_demo first")
    lags, created = [], []
    hostname = f"bench-search-{uuid.uuid4().hex[:6]}@localhost"
    worker = [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--queues",
        "search",
        "--concurrency",
        "2",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "WARNING",
        "--hostname",
        hostname,
    ]
    dispatcher = [PYTHON, "manage.py", "jobs", "dispatcher"]
    with process(worker, tmp / "worker.log"), process(dispatcher, tmp / "dispatcher.log"):
        wait_for_worker()
        for i in range(n):
            token = f"lagmarker{uuid.uuid4().hex[:10]}"
            post = forum.post_create(
                author=author, board=board, title=f"Bench post {i} {token}", body="Lag probe."
            )  # committed on return (autocommit)
            committed = time.perf_counter()
            created.append(post)
            deadline = committed + 30
            while not search_posts(query=token).hits:
                if time.perf_counter() > deadline:
                    raise SystemExit(f"post {post.pk} not searchable after 30 s")
                time.sleep(0.005)
            lags.append(time.perf_counter() - committed)
            time.sleep(0.05)
    for post in created:
        forum.post_delete(post=post, actor=author)
    return [
        ("index_lag_p50", ms(pct(lags, 50)), "ms"),
        ("index_lag_p95", ms(pct(lags, 95)), "ms"),
    ]


def wait_for_worker() -> None:
    from config.celery import app

    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):
        if time.monotonic() > deadline:
            raise SystemExit("the celery worker did not start")


if __name__ == "__main__":
    sys.exit(main())
