"""Job-layer benchmark: our ledger + results against bare Celery, in one invocation.

Both sides run the same no-op job (it only records its start in Redis) on a private
redis-server this script starts on a free port, with the same worker concurrency (2) and
prefetch (Celery's default multiplier, 4):

(a) bare Celery, the fixed baseline: a minimal app (bench/bare_celery.py), the task with
    acks_late (acknowledged after the run, as our jobs are), kombu's stock Redis transport,
    no result backend, Celery's default log level (WARNING), one queue;
(b) our layer as production runs it: ApplicationJob with the ledger, compare-and-set claim
    and TaskResult rows in the database of DATABASE_URL (migrated first); our Redis transport
    (jobs/worker/kombu_redis.py) with 10 priority steps, the production worker's queues
    (high_priority, default, search), each job's soft/hard time limits, LOG_LEVEL=INFO.
Neither worker gets --without-gossip/--without-mingle/--without-heartbeat: both run as
started in production (b) and with Celery's defaults (a). What differs is listed above and
printed as `#` lines before the figures.

Method: the sides are interleaved over --rounds rounds (default 3; the order alternates each
round). Each drain starts a fresh worker, warms it up with WARM_UP jobs, has it stop consuming
(`celery control cancel_consumer`), pre-enqueues --jobs jobs, reads CPU counters, and has it
consume again; the drain is timed first start → last start of those jobs. CPU per job is
utime + stime from /proc from just before the drain until every job has been acknowledged
(and, for (b), its outcome written), by process: the worker's main process, its pool
processes, the PostgreSQL backends of this database (pg_stat_activity, without this script's
own) and the private redis-server. Start-up is excluded. Ratios are per round; the summary
figures are medians over the rounds. PostgreSQL's autovacuum is whatever the server has
(printed); the ledger's tables are vacuumed (VACUUM ANALYZE) before every drain either way,
so no round measures an earlier one's dead rows.

Figures (stdout, `name = value unit`):
- per round: drain throughput of each side and their ratio, CPU per job of each side and its
  ratio, pickup p50 / p99 of each side and their ratios;
- medians: drain_ratio_ledger_to_bare, cpu_per_job_<side>_<process> and totals,
  cpu_ratio_ledger_to_bare, pickup p50 / p99 and pickup_ratio_p50 / p99;
- enqueue latency of (b) inside a transaction (the call, before commit): p50 / p99;
- lateness of scheduled jobs (start − scheduled time) with the dispatcher running: p50 / p99.

Targets (issue 20): drain ratio ≥ 0.8; CPU ratio ≤ 1.25; enqueue p50 ≤ 1 ms; pickup p50 ≤
1.5× and p99 ≤ 2× (a); scheduled lateness p99 ≤ 1.5 s. Exits non-zero when a measurement
could not be made. Results and method: docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
WARM_UP = 100  # jobs run before a drain: both pool processes connected, statements prepared
SIDES = {"bare": "bare", "ours": "ledger"}  # side → the name its figures carry
PROCESSES = ("worker_main", "pool", "postgres", "redis")
# The production worker's queues (docker-compose.yml, Procfile.dev).
PRODUCTION_QUEUES = "high_priority,default,search"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs drained per side")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both sides, interleaved")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes per side")
    parser.add_argument("--pickup-jobs", type=int, default=500, help="jobs sent at 50/s per side")
    parser.add_argument("--scheduled-jobs", type=int, default=200)
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL"):
        parser.error("DATABASE_URL must be set (or run through `python -m devtools.embedded run`)")
    if args.rounds < 1 or args.jobs < 2:
        parser.error("--rounds must be at least 1 and --jobs at least 2")

    with django_on_private_redis("naija-jobs-bench-") as (url, tmp):
        bench = Bench(url, tmp, args.concurrency)
        for line in bench.setup(args):
            print(f"# {line}", flush=True)
        figures = bench.run(args)
    for name, value, unit in figures:
        print(f"{name} = {value} {unit}")
    return 0


class Bench:
    BARE_APP = "bench.bare_celery"  # the baseline's Celery app (a module with `app`)
    JOB_CLASS = "NoopJob"  # what our side runs: the ledger rows a drain waits for

    def __init__(self, redis_url: str, tmp: Path, concurrency: int) -> None:
        import redis

        self.redis = redis.Redis.from_url(redis_url)
        self.tmp = tmp
        self.concurrency = concurrency

    def setup(self, args) -> list[str]:
        """What the run compares, and how the two sides differ: printed before the figures."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW autovacuum")
            autovacuum = cursor.fetchone()[0]
        return [
            f"{args.rounds} rounds of {args.jobs:,} jobs per side, interleaved; "
            f"concurrency {self.concurrency} and prefetch multiplier 4 on both sides",
            "bare: stock Celery, acks_late, kombu's Redis transport, no result backend, "
            "queue default, Celery's default log level WARNING, no time limits",
            "ledger: as production: our Redis transport with priority steps 0-9, queues "
            f"{PRODUCTION_QUEUES}, per-queue time limits, LOG_LEVEL=INFO, results in PostgreSQL",
            f"PostgreSQL autovacuum = {autovacuum}; the ledger's tables are vacuumed "
            "(VACUUM ANALYZE) before every drain",
            f"CPU per job: /proc utime+stime, from after {WARM_UP} warm-up jobs to the last "
            "acknowledgement (and ledger outcome); medians over rounds",
        ]

    def run(self, args) -> list[tuple[str, str, str]]:
        figures: list[tuple[str, str, str]] = []
        drains: dict[str, list[float]] = {"bare": [], "ours": []}
        cpus: dict[str, list[dict[str, float]]] = {"bare": [], "ours": []}
        pickups: dict[str, list[list[float]]] = {"bare": [], "ours": []}
        for r in range(1, args.rounds + 1):
            order = ("bare", "ours") if r % 2 else ("ours", "bare")
            for side in order:
                rate, cpu = self.drain(side, args.jobs)
                drains[side].append(rate)
                cpus[side].append(cpu)
            for side in order:
                pickups[side].append(self.pickup(side, args.pickup_jobs))
            this_round = self.round_figures(r, drains, cpus, pickups)
            for name, value, unit in this_round:
                log(f"{name} = {value} {unit}")
            figures += this_round
        figures += summary_figures(drains, cpus, pickups)
        enqueue = self.enqueue_latency(1000)
        figures += [
            ("enqueue_in_transaction_p50", f"{ms(pct(enqueue, 50))}", "ms"),
            ("enqueue_in_transaction_p99", f"{ms(pct(enqueue, 99))}", "ms"),
        ]
        lateness = self.scheduled_lateness(args.scheduled_jobs)
        figures += [
            ("scheduled_lateness_p50", ms(pct(lateness, 50)), "ms"),
            ("scheduled_lateness_p99", ms(pct(lateness, 99)), "ms"),
        ]
        return figures

    @staticmethod
    def round_figures(
        r: int,
        drains: dict[str, list[float]],
        cpus: dict[str, list[dict[str, float]]],
        pickups: dict[str, list[list[float]]],
    ) -> list[tuple[str, str, str]]:
        bare, ours = drains["bare"][-1], drains["ours"][-1]
        bare_cpu, ours_cpu = sum(cpus["bare"][-1].values()), sum(cpus["ours"][-1].values())
        bare_pickup, ours_pickup = pickups["bare"][-1], pickups["ours"][-1]
        figures = [
            (f"drain_round{r}_bare", f"{bare:.0f}", "jobs/s"),
            (f"drain_round{r}_ledger", f"{ours:.0f}", "jobs/s"),
            (f"drain_ratio_round{r}", f"{ours / bare:.2f}", "x"),
            (f"cpu_per_job_round{r}_bare_total", f"{bare_cpu * 1000:.2f}", "ms"),
            (f"cpu_per_job_round{r}_ledger_total", f"{ours_cpu * 1000:.2f}", "ms"),
            (f"cpu_ratio_round{r}", f"{ours_cpu / bare_cpu:.2f}", "x"),
        ]
        for p in (50, 99):
            bare_p, ours_p = pct(bare_pickup, p), pct(ours_pickup, p)
            figures += [
                (f"pickup_round{r}_bare_p{p}", ms(bare_p), "ms"),
                (f"pickup_round{r}_ledger_p{p}", ms(ours_p), "ms"),
                (f"pickup_ratio_round{r}_p{p}", f"{ours_p / bare_p:.2f}", "x"),
            ]
        return figures

    # --- measurements -------------------------------------------------------------------------
    def drain(self, side: str, n: int) -> tuple[float, dict[str, float]]:
        """A warmed-up worker that stopped consuming; n jobs pre-enqueued; then it consumes
        again. Returns jobs/s (first start → last start) and CPU seconds per job by process."""
        self.reset()
        keys = [f"d{i}" for i in range(n)]
        with self.workers(side) as (worker, hostname):
            self.warm_up(side, WARM_UP)
            self.wait_settled(side, WARM_UP)
            self.consume(side, hostname, on=False)
            log(f"{side}: enqueueing {n:,} jobs")
            self.enqueue(side, keys, with_time=False)
            if side == "ours":
                self.analyze()
            clock = CpuClock(worker.pid, self.redis.info("server")["process_id"])
            self.consume(side, hostname, on=True)
            first = self.wait_started(WARM_UP + 1, timeout=60, tick=clock.sample)
            self.wait_started(WARM_UP + n, timeout=max(120, n / 20), tick=clock.sample)
            self.wait_settled(side, WARM_UP + n, tick=clock.sample)
            clock.sample()
        stamps = sorted(
            float(v) for k, v in self.redis.hgetall("bench:start").items() if k.startswith(b"d")
        )
        elapsed = stamps[-1] - stamps[0]
        rate = (n - 1) / elapsed
        cpu = {name: seconds / n for name, seconds in clock.used().items()}
        log(
            f"{side}: drained {n:,} in {elapsed:.2f}s ({rate:.0f} jobs/s; first start "
            f"{first:.3f}s); CPU per job "
            + ", ".join(f"{name} {seconds * 1000:.3f} ms" for name, seconds in cpu.items())
        )
        return rate, cpu

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
        """Send jobs; returns the time of the publish (bare) or of the commit (ours): when the
        job exists, just before its message is published."""
        if side == "bare":
            from bench.bare_celery import app, noop

            with app.producer_or_acquire() as producer, producer.batch():
                at = time.time()
                for key in keys:
                    noop.apply_async([key], producer=producer)
            return at
        from django.db import transaction

        from bench.bench_jobs import NoopJob
        from jobs.base import enqueue_all

        committed: list[float] = []
        with transaction.atomic():
            # The commit's time: on_commit callbacks run in order once COMMIT returns, and
            # this one goes before the publish that enqueue_all registers.
            transaction.on_commit(lambda: committed.append(time.time()))
            enqueue_all([NoopJob.s(key) for key in keys])
        return committed[0]

    def warm_up(self, side: str, n: int = 1) -> None:
        self.enqueue(side, [f"warm-up{i}" for i in range(n)], with_time=False)
        self.wait_started(n, timeout=60)

    def wait_started(
        self, n: int, *, timeout: float, tick: Callable[[], None] | None = None
    ) -> float:
        """Waits until n jobs have started; calls `tick` about once a second meanwhile."""
        started, deadline = time.monotonic(), time.monotonic() + timeout
        next_tick = started + 1
        while self.redis.hlen("bench:start") < n:
            now = time.monotonic()
            if now > deadline:
                raise SystemExit(
                    f"only {self.redis.hlen('bench:start')} of {n} jobs ran in {timeout}s"
                )
            if tick is not None and now >= next_tick:
                tick()
                next_tick = now + 1
            time.sleep(0.005)
        return time.monotonic() - started

    def wait_settled(
        self, side: str, n: int, *, tick: Callable[[], None] | None = None, timeout: float = 60
    ) -> None:
        """Waits until every message was acknowledged (kombu's `unacked` hash is empty) and,
        for ours, n NoopJob rows are finished in the ledger (outcomes are written in batches
        after the run): the work of every job is then in the CPU counters."""
        from jobs.models import Job

        deadline = time.monotonic() + timeout
        while True:
            acked = self.redis.hlen("unacked") == 0
            if acked and (
                side == "bare"
                or Job.objects.filter(class_name=self.JOB_CLASS, state="finished").count() >= n
            ):
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"{side}: the jobs' acks or outcomes missing after {timeout}s")
            if tick is not None:
                tick()
            time.sleep(0.02)

    def consume(self, side: str, hostname: str, *, on: bool) -> None:
        """Has the worker stop or start consuming the queue `default` (remote control), so
        that the drain starts on a warmed-up worker with every job already enqueued."""
        app = importlib.import_module(self.BARE_APP if side == "bare" else "config.celery").app
        control = app.control.add_consumer if on else app.control.cancel_consumer
        replies = control("default", destination=[hostname], reply=True, timeout=10)
        if not replies or not all("ok" in reply for r in replies for reply in r.values()):
            raise SystemExit(f"{side}: the worker did not answer {control.__name__}: {replies}")
        if not on:
            # A BRPOP sent before the cancel may still be waiting on the queue (kombu's
            # brpop_timeout is 1 s): let it time out before anything is enqueued.
            time.sleep(1.5)

    def analyze(self) -> None:
        """Statistics of the filled ledger, as autovacuum would gather them: planned against
        the empty table of reset(), the outcome statements would scan it whole. ANALYZE
        also makes the workers' prepared statements plan again."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE jobs_job, django_celery_results_taskresult")

    def reset(self) -> None:
        from django.db import connection

        self.redis.flushdb()  # the private redis-server of this script
        job_class = [self.JOB_CLASS]
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM jobs_job WHERE class_name = %s", job_class)
            cursor.execute(
                "DELETE FROM django_celery_results_taskresult WHERE task_name = %s", job_class
            )
            # The runs and stats the ledger's triggers wrote (not deleted with their jobs):
            # kept, each round would insert into bigger tables than the last.
            cursor.execute("DELETE FROM jobs_jobattempt WHERE class_name = %s", job_class)
            cursor.execute("DELETE FROM jobs_jobstat WHERE class_name = %s", job_class)
            # Each run leaves ~2 dead row versions per job; autovacuum is off on some servers
            # (this machine's among them), and even on it would not keep up between rounds:
            # later rounds would measure the bloat, not the layer.
            cursor.execute(
                "VACUUM (ANALYZE) jobs_job, django_celery_results_taskresult, jobs_jobattempt, "
                "jobs_jobstat"
            )

    @contextlib.contextmanager
    def workers(self, side: str) -> Iterator[tuple[subprocess.Popen, str]]:
        """One worker of `side`: bare Celery with its defaults, or ours as production starts it
        (its queues, LOG_LEVEL=INFO). Yields its process and its hostname."""
        hostname = f"bench-{side}-{uuid.uuid4().hex[:6]}@localhost"
        app, queues = (
            (self.BARE_APP, "default") if side == "bare" else ("config", PRODUCTION_QUEUES)
        )
        command = [
            PYTHON,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "--queues",
            queues,
            "--concurrency",
            str(self.concurrency),
            "--hostname",
            hostname,
        ]
        if side == "ours":
            command += ["--include", "bench.bench_jobs"]
        env = {"LOG_LEVEL": "INFO"} if side == "ours" else {}
        with self.process(command, f"worker-{side}", **env) as proc:
            yield proc, hostname

    @contextlib.contextmanager
    def dispatcher(self) -> Iterator[None]:
        with self.process([PYTHON, "manage.py", "jobs", "dispatcher"], "dispatcher"):
            yield

    @contextlib.contextmanager
    def process(self, command: list[str], name: str, **env: str) -> Iterator[subprocess.Popen]:
        with process(command, self.tmp / f"{name}.log", env) as proc:
            yield proc


def summary_figures(
    drains: dict[str, list[float]],
    cpus: dict[str, list[dict[str, float]]],
    pickups: dict[str, list[list[float]]],
) -> list[tuple[str, str, str]]:
    """Medians over the rounds; a ratio is the median of the rounds' ratios (each round's two
    sides ran minutes apart, on the same machine's load)."""
    median = statistics.median
    figures = [
        ("drain_bare_celery", f"{median(drains['bare']):.0f}", "jobs/s"),
        ("drain_ledger", f"{median(drains['ours']):.0f}", "jobs/s"),
        (
            "drain_ratio_ledger_to_bare",
            f"{median(o / b for o, b in zip(drains['ours'], drains['bare'], strict=True)):.2f}",
            "x",
        ),
    ]
    for side, name in SIDES.items():
        for process_name in PROCESSES:
            per_job = median(cpu[process_name] for cpu in cpus[side])
            figures.append((f"cpu_per_job_{name}_{process_name}", f"{per_job * 1000:.3f}", "ms"))
        total = median(sum(cpu.values()) for cpu in cpus[side])
        figures.append((f"cpu_per_job_{name}_total", f"{total * 1000:.3f}", "ms"))
    totals = {side: [sum(cpu.values()) for cpu in cpus[side]] for side in SIDES}
    ratio = median(o / b for o, b in zip(totals["ours"], totals["bare"], strict=True))
    figures.append(("cpu_ratio_ledger_to_bare", f"{ratio:.2f}", "x"))
    for p in (50, 99):
        bare = [pct(samples, p) for samples in pickups["bare"]]
        ours = [pct(samples, p) for samples in pickups["ours"]]
        figures += [
            (f"pickup_bare_celery_p{p}", ms(median(bare)), "ms"),
            (f"pickup_ledger_p{p}", ms(median(ours)), "ms"),
            (
                f"pickup_ratio_p{p}",
                f"{median(o / b for o, b in zip(ours, bare, strict=True)):.2f}",
                "x",
            ),
        ]
    return figures


class CpuClock:
    """CPU seconds (utime + stime in /proc/<pid>/stat) by process since the first sample: the
    worker's main process, its pool processes (its descendants), the PostgreSQL backends of
    this database but this script's own, and the redis-server. A process that appears later
    counts from zero; sample() again while the drain runs so that one that ends is counted
    up to its last sample. PostgreSQL must run on this machine."""

    def __init__(self, worker_pid: int, redis_pid: int) -> None:
        self.worker_pid, self.redis_pid = worker_pid, redis_pid
        self.tick = os.sysconf("SC_CLK_TCK")
        # (name, pid): a pid, or "pid/task/tid" for one thread
        self.first: dict[tuple[str, int | str], float] = {}
        self.last: dict[tuple[str, int | str], float] = {}
        self.started = False
        self.sample()
        self.started = True

    def sample(self) -> None:
        for name, pid in self.processes():
            cpu = self.seconds(pid)
            if cpu is None:  # it ended
                continue
            self.first.setdefault((name, pid), cpu if not self.started else 0.0)
            self.last[(name, pid)] = cpu

    def used(self) -> dict[str, float]:
        """CPU seconds by process name (PROCESSES); exits when one could not be measured."""
        used = dict.fromkeys(PROCESSES, 0.0)
        for (name, pid), cpu in self.last.items():
            used[name] = used.get(name, 0.0) + cpu - self.first[(name, pid)]
        if not (used["worker_main"] and used["pool"] and used["redis"]):
            raise SystemExit(f"no CPU time read from /proc for some processes: {used}")
        return used

    def processes(self) -> list[tuple[str, int | str]]:
        from django.db import connection

        found: list[tuple[str, int | str]] = [
            ("worker_main", self.worker_pid),
            ("redis", self.redis_pid),
        ]
        found += [("pool", pid) for pid in descendants(self.worker_pid)]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            found += [("postgres", pid) for (pid,) in cursor.fetchall()]
        return found

    def seconds(self, pid: int | str) -> float | None:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self.tick


def descendants(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found += [int(child) for child in children.read().split()]
        except OSError:
            continue
    return found + [grandchild for child in found for grandchild in descendants(child)]


@contextlib.contextmanager
def process(
    command: list[str], log_path: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
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
        yield proc
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
