"""Job-layer benchmark: our ledger + results against bare Celery, in one invocation.

Both sides run the same no-op job (it only records its start in Redis) on a private
redis-server this script starts on a free port, with the same worker concurrency:

(a) bare Celery: a minimal app (bench/bare_celery.py), no ledger, no result backend, on
    kombu's stock Redis transport;
(b) our layer: ApplicationJob with the ledger, compare-and-set claim and TaskResult rows,
    in the database of DATABASE_URL (migrated first).

Figures (stdout, `name = value unit`):
- drain throughput of 10,000 pre-enqueued jobs, for (a) and (b), and the ratio (b)/(a); and
  for (a) with acks_late, as our jobs ack, to tell that cost from the ledger's; and for (a)
  with acks_late on our Redis transport (jobs/worker/kombu_redis.py, which (b) uses), with the
  ratio of (b) to that: the ledger's own cost, without what the transport wins back;
- enqueue latency of (b) inside a transaction (the call, before commit): p50 / p99;
- pickup latency commit→start with idle workers at 50 jobs/s: p50 / p99 for (a) and (b);
- lateness of scheduled jobs (start − scheduled time) with the dispatcher running: p99.

Targets: (b)/(a) ≥ 0.8; enqueue p50 ≤ 1 ms; pickup (b) p50 ≤ 1.5× and p99 ≤ 2× (a);
scheduled lateness p99 ≤ 1.5 s. Exits non-zero when a measurement could not be made.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs drained per side")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes per side")
    parser.add_argument("--pickup-jobs", type=int, default=500, help="jobs sent at 50/s per side")
    parser.add_argument("--scheduled-jobs", type=int, default=200)
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL"):
        parser.error("DATABASE_URL must be set (or run through `python -m devtools.embedded run`)")

    with django_on_private_redis("naija-jobs-bench-") as (url, tmp):
        figures = Bench(url, tmp, args.concurrency).run(args)
    for name, value, unit in figures:
        print(f"{name} = {value} {unit}")
    return 0


class Bench:
    def __init__(self, redis_url: str, tmp: Path, concurrency: int) -> None:
        import redis

        self.redis = redis.Redis.from_url(redis_url)
        self.tmp = tmp
        self.concurrency = concurrency

    def run(self, args) -> list[tuple[str, str, str]]:
        figures = []
        bare_rate = self.drain("bare", args.jobs)
        late_rate = self.drain("bare_late", args.jobs)
        same_rate = self.drain("bare_late_jobs_transport", args.jobs)
        ours_rate = self.drain("ours", args.jobs)
        figures += [
            ("drain_bare_celery", f"{bare_rate:.0f}", "jobs/s"),
            ("drain_bare_celery_acks_late", f"{late_rate:.0f}", "jobs/s"),
            ("drain_bare_celery_acks_late_jobs_transport", f"{same_rate:.0f}", "jobs/s"),
            ("drain_ledger", f"{ours_rate:.0f}", "jobs/s"),
            ("drain_ratio_ledger_to_bare", f"{ours_rate / bare_rate:.2f}", "x"),
            ("drain_ratio_ledger_to_bare_same_transport", f"{ours_rate / same_rate:.2f}", "x"),
        ]
        enqueue = self.enqueue_latency(1000)
        figures += [
            ("enqueue_in_transaction_p50", f"{ms(pct(enqueue, 50))}", "ms"),
            ("enqueue_in_transaction_p99", f"{ms(pct(enqueue, 99))}", "ms"),
        ]
        bare = self.pickup("bare", args.pickup_jobs)
        ours = self.pickup("ours", args.pickup_jobs)
        figures += [
            ("pickup_bare_celery_p50", ms(pct(bare, 50)), "ms"),
            ("pickup_bare_celery_p99", ms(pct(bare, 99)), "ms"),
            ("pickup_ledger_p50", ms(pct(ours, 50)), "ms"),
            ("pickup_ledger_p99", ms(pct(ours, 99)), "ms"),
            ("pickup_ratio_p50", f"{pct(ours, 50) / pct(bare, 50):.2f}", "x"),
            ("pickup_ratio_p99", f"{pct(ours, 99) / pct(bare, 99):.2f}", "x"),
        ]
        lateness = self.scheduled_lateness(args.scheduled_jobs)
        figures += [
            ("scheduled_lateness_p50", ms(pct(lateness, 50)), "ms"),
            ("scheduled_lateness_p99", ms(pct(lateness, 99)), "ms"),
        ]
        return figures

    # --- measurements -------------------------------------------------------------------------
    def drain(self, side: str, n: int) -> float:
        """Pre-enqueue n jobs, start the workers, time first start → last start."""
        self.reset()
        keys = [f"d{i}" for i in range(n)]
        log(f"{side}: enqueueing {n:,} jobs")
        self.enqueue(side, keys, with_time=False)
        if side == "ours":
            self.analyze()
        with self.workers(side):
            first = self.wait_started(1, timeout=60)
            self.wait_started(n, timeout=max(120, n / 20))
        stamps = sorted(float(v) for v in self.redis.hvals("bench:start"))
        elapsed = stamps[-1] - stamps[0]
        rate = (n - 1) / elapsed
        log(f"{side}: drained {n:,} in {elapsed:.2f}s ({rate:.0f} jobs/s; first start {first:.3f})")
        return rate

    def pickup(self, side: str, n: int) -> list[float]:
        """Jobs sent one by one at 50/s to idle workers: start − publish (or commit)."""
        self.reset()
        sent: dict[str, float] = {}
        with self.workers(side):
            self.warm_up(side)
            log(f"{side}: {n} jobs at 50/s")
            for i in range(n):
                key = f"p{i}"
                sent[key] = self.enqueue(side, [key], with_time=True)
                time.sleep(0.02)
            self.wait_started(n + 1, timeout=60)
        starts = {k.decode(): float(v) for k, v in self.redis.hgetall("bench:start").items()}
        return [starts[key] - at for key, at in sent.items()]

    def enqueue_latency(self, n: int) -> list[float]:
        from django.db import transaction

        from bench.bench_jobs import NoopJob
        from jobs.models import Job

        samples = []
        for i in range(n):
            with transaction.atomic():
                started = time.perf_counter()
                NoopJob.apply_async([f"e{i}"], countdown=3600)  # stays in PostgreSQL
                samples.append(time.perf_counter() - started)
        Job.objects.filter(class_name="NoopJob").delete()
        return samples

    def scheduled_lateness(self, n: int) -> list[float]:
        from bench.bench_jobs import NoopJob

        self.reset()
        with self.workers("ours"), self.dispatcher():
            self.warm_up("ours")
            due: dict[str, float] = {}
            now = time.time()
            for i in range(n):
                delay = 2 + 3 * i / n  # due over the next 2–5 s
                NoopJob.apply_async([f"s{i}"], countdown=delay)
                due[f"s{i}"] = now + delay
            self.wait_started(n + 1, timeout=60)
        starts = {k.decode(): float(v) for k, v in self.redis.hgetall("bench:start").items()}
        return [starts[key] - at for key, at in due.items()]

    # --- plumbing ------------------------------------------------------------------------------
    def enqueue(self, side: str, keys: list[str], *, with_time: bool) -> float:
        """Send jobs; returns the time of the publish (bare) or the commit (ours)."""
        if side.startswith("bare"):
            from bench.bare_celery import app, noop, noop_late

            task = noop if side == "bare" else noop_late
            with app.producer_or_acquire() as producer, producer.batch():
                at = time.time()
                for key in keys:
                    task.apply_async([key], producer=producer)
            return at
        from django.db import transaction

        from bench.bench_jobs import NoopJob
        from jobs.base import enqueue_all

        with transaction.atomic():
            enqueue_all([NoopJob.s(key) for key in keys])
            at = time.time()
        return at

    def warm_up(self, side: str) -> None:
        self.enqueue(side, ["warm-up"], with_time=False)
        self.wait_started(1, timeout=60)

    def wait_started(self, n: int, *, timeout: float) -> float:
        started, deadline = time.monotonic(), time.monotonic() + timeout
        while self.redis.hlen("bench:start") < n:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"only {self.redis.hlen('bench:start')} of {n} jobs ran in {timeout}s"
                )
            time.sleep(0.005)
        return time.monotonic() - started

    def analyze(self) -> None:
        """Statistics of the filled ledger, as autovacuum would gather them: planned against
        the empty table of reset(), the outcome statements would scan it whole."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE jobs_job, django_celery_results_taskresult")

    def reset(self) -> None:
        from django.db import connection

        self.redis.flushdb()  # the private redis-server of this script
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM jobs_job WHERE class_name = 'NoopJob'")
            cursor.execute(
                "DELETE FROM django_celery_results_taskresult WHERE task_name = 'NoopJob'"
            )
            # Each run leaves ~2 dead row versions per job; without autovacuum (off on some
            # servers) later runs would measure the bloat, not the layer.
            cursor.execute("VACUUM (ANALYZE) jobs_job, django_celery_results_taskresult")

    @contextlib.contextmanager
    def workers(self, side: str) -> Iterator[None]:
        app = "bench.bare_celery" if side.startswith("bare") else "config"
        command = [
            PYTHON,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "--queues",
            "default",
            "--concurrency",
            str(self.concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
            "--hostname",
            f"bench-{side}-{uuid.uuid4().hex[:6]}@localhost",
        ]
        if side == "ours":
            command += ["--include", "bench.bench_jobs"]
        env = {"BENCH_TRANSPORT": "jobs"} if side == "bare_late_jobs_transport" else {}
        with self.process(command, f"worker-{side}", **env):
            yield

    @contextlib.contextmanager
    def dispatcher(self) -> Iterator[None]:
        with self.process([PYTHON, "manage.py", "jobs", "dispatcher"], "dispatcher"):
            yield

    @contextlib.contextmanager
    def process(self, command: list[str], name: str, **env: str) -> Iterator[None]:
        with process(command, self.tmp / f"{name}.log", env):
            yield


@contextlib.contextmanager
def process(
    command: list[str], log_path: Path, env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run `command` in the repository for the duration of the block, its output in
    `log_path`, `env` added to this process's environment; the end of that log goes to
    stderr when the block fails."""
    with open(log_path, "w") as out:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    try:
        yield
    except BaseException:
        log(log_path.read_text()[-3000:])
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def django_on_private_redis(prefix: str, **env: str) -> Iterator[tuple[str, Path]]:
    """A scratch folder, a private redis-server in it, and Django set up in production
    settings (DEBUG's query log would tax every statement) on the migrated DATABASE_URL.
    Yields (redis URL, folder); `env` adds or overrides environment variables."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, private_redis(Path(tmp)) as url:
        os.environ.update(
            REDIS_URL=url,
            DEBUG="0",
            ALLOWED_HOSTS="127.0.0.1",
            SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
            DJANGO_SETTINGS_MODULE="config.settings",
            **env,
        )
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield url, Path(tmp)


@contextlib.contextmanager
def private_redis(data_dir: Path) -> Iterator[str]:
    from devtools.embedded import RedisServer

    server = RedisServer(data_dir)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def pct(values: list[float], p: float) -> float:
    if not values:
        raise SystemExit("no samples")
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
