"""Reliability run: 10,000 jobs while workers are SIGKILLed at random, until all are done.

Two workers (2 pool processes each) and the dispatcher run on a private redis-server and the
database of DATABASE_URL. Every few seconds one worker is killed with SIGKILL: either one
pool process (as the OOM killer does) or the whole worker, main process and pool (a lost
machine); it is restarted at once. Each job counts its completed runs and applies a side
effect keyed by its id (bench/bench_jobs.py ChaosJob).

Figures (stdout, `name = value unit`): jobs enqueued, finished, failed, lost; jobs whose
body completed twice (at-least-once: the worker died after the work, before its outcome was
written — successes are written in batches every 100 ms); jobs whose side effect was applied,
and how many times one was applied again (0: the job's idempotency key holds); jobs finished
in the ledger whose side effect was never applied (0: the key is taken and the effect applied
in one atomic step, so a kill cannot land between them); kills; time to drain.
Target: 0 lost, 0 duplicate side effects, 0 finished without effect. Exits non-zero when it
could not measure.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.jobs import django_on_private_redis, log  # noqa: E402

PYTHON = sys.executable
RECOVERY = {
    "JOBS_HEARTBEAT_INTERVAL": "1",
    "JOBS_PROCESS_ALIVE_THRESHOLD": "5",
    "JOBS_REPUBLISH_AFTER": "5",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--kill-every", type=float, default=3.0, help="mean seconds between kills")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL"):
        parser.error("DATABASE_URL must be set (or run through `python -m devtools.embedded run`)")

    with django_on_private_redis("naija-chaos-", **RECOVERY) as (url, tmp):
        figures = Chaos(url, tmp, args).run()
    for name, value, unit in figures:
        print(f"{name} = {value} {unit}")
    return 0


class Chaos:
    def __init__(self, redis_url: str, tmp: Path, args) -> None:
        import redis

        self.redis = redis.Redis.from_url(redis_url)
        self.tmp, self.args = tmp, args
        self.procs: list[subprocess.Popen] = []

    def run(self) -> list[tuple[str, object, str]]:
        from django.db import connection, transaction

        from bench.bench_jobs import ChaosJob
        from jobs.base import enqueue_all
        from jobs.models import Job

        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM jobs_job WHERE class_name = 'ChaosJob'")
            cursor.execute("DELETE FROM jobs_process")
            cursor.execute("VACUUM (ANALYZE) jobs_job")
        n = self.args.jobs
        ids = []
        for start in range(0, n, 1000):
            with transaction.atomic():
                ids += [
                    r.id
                    for r in enqueue_all(
                        [ChaosJob.s(f"c{i}") for i in range(start, min(n, start + 1000))]
                    )
                ]
        log(f"enqueued {n:,} jobs")
        jobs = Job.objects.filter(class_name="ChaosJob")
        kills, elapsed = self.kill_until_done(
            lambda: jobs.filter(state__in=["finished", "failed", "discarded"]).count(), n
        )
        by_state = jobs.counts_by_state()
        completed = {k.decode(): int(v) for k, v in self.redis.hgetall("chaos:completed").items()}
        effects = {k.decode(): int(v) for k, v in self.redis.hgetall("chaos:effects").items()}
        lost = n - by_state.get("finished", 0) - by_state.get("failed", 0)
        finished_keys = [
            args[0] for args in jobs.filter(state="finished").values_list("args", flat=True)
        ]
        if len(finished_keys) != by_state.get("finished", 0):
            raise SystemExit("could not read the finished jobs' keys from the ledger")
        return [
            ("jobs_enqueued", n, "jobs"),
            ("jobs_finished", by_state.get("finished", 0), "jobs"),
            ("jobs_failed", by_state.get("failed", 0), "jobs"),
            ("jobs_lost", lost, "jobs"),
            ("jobs_with_side_effect", len(effects), "jobs"),
            ("jobs_completed_twice", sum(1 for c in completed.values() if c > 1), "jobs"),
            ("duplicate_side_effects", sum(c - 1 for c in effects.values()), "effects"),
            (
                "jobs_finished_without_effect",
                sum(1 for key in finished_keys if key not in effects),
                "jobs",
            ),
            ("kills_pool_process", kills["fork"], "kills"),
            ("kills_whole_worker", kills["worker"], "kills"),
            ("drain_time", f"{elapsed:.1f}", "s"),
        ]

    def kill_until_done(
        self,
        count_done: Callable[[], int],
        n: int,
        on_kill: Callable[[str], None] | None = None,
    ) -> tuple[dict[str, int], float]:
        """Start the dispatcher and two workers, and SIGKILL one worker every --kill-every
        seconds on average (restarting a whole worker at once) until count_done() reaches n.
        `on_kill(kind)` runs after each kill. Returns the kills by kind and the seconds taken."""
        kills = {"fork": 0, "worker": 0, "none": 0}
        started = time.monotonic()
        dispatcher = self.start([PYTHON, "manage.py", "jobs", "dispatcher"], "dispatcher")
        workers = [self.start_worker(i) for i in range(2)]
        next_kill = started + random.expovariate(1 / self.args.kill_every)
        try:
            while True:
                done = count_done()
                if done == n:
                    return kills, time.monotonic() - started
                now = time.monotonic()
                if now - started > self.args.timeout:
                    raise SystemExit(f"only {done:,} of {n:,} jobs done in {self.args.timeout}s")
                if now >= next_kill:
                    victim = random.randrange(len(workers))
                    kind = self.kill(workers[victim])
                    kills[kind] += 1
                    if kind != "fork":  # killed now, or found dead: start a new one
                        workers[victim] = self.start_worker(victim)
                    log(f"{now - started:6.1f}s killed a {kind}; {done:,}/{n:,} done")
                    if on_kill is not None:
                        on_kill(kind)
                    next_kill = time.monotonic() + random.expovariate(1 / self.args.kill_every)
                time.sleep(0.2)
        finally:
            for proc in [*workers, dispatcher]:
                self.stop(proc)

    def start_worker(self, index: int) -> subprocess.Popen:
        return self.start(
            [
                PYTHON,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--queues",
                "default",
                "--concurrency",
                "2",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "WARNING",
                "--include",
                "bench.bench_jobs",
                "--hostname",
                f"chaos{index}-{uuid.uuid4().hex[:6]}@localhost",
            ],
            f"worker{index}",
        )

    def start(self, command: list[str], name: str) -> subprocess.Popen:
        out = open(self.tmp / f"{name}.log", "a")  # noqa: SIM115  (kept open for the process)
        # Its own session: a whole worker (main process and pool) is killed as a group.
        proc = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def kill(self, worker: subprocess.Popen) -> str:
        """SIGKILL one pool process or the whole worker; "none" when the worker is already
        dead (killed earlier and not restarted yet) and there is nothing to kill."""
        if worker.poll() is not None:
            return "none"
        forks = _children(worker.pid)
        fork = random.choice(forks) if forks and random.random() < 0.5 else None
        self.before_kill([fork] if fork else [worker.pid, *forks])
        try:
            if fork:
                os.kill(fork, signal.SIGKILL)  # the pool replaces it
                while os.path.exists(f"/proc/{fork}/task") and _state(fork) != "Z":
                    time.sleep(0.001)  # dead (a zombie until the worker reaps it)
                return "fork"
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:  # it died between the check and the kill
            return "none"
        worker.wait()
        return "worker"

    def before_kill(self, pids: list[int]) -> None:
        """Runs just before `pids` are SIGKILLed (bench/email_chaos.py notes what they hold)."""

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except OSError:
        return []


if __name__ == "__main__":
    sys.exit(main())
