"""The claim's cost in PostgreSQL: backend CPU per claimed job, one statement per job (the
claim every run makes, jobs.ledger.writes.claim) against one statement per batch.

Fills the ledger of DATABASE_URL (use a scratch database: it truncates the jobs tables) with
--jobs ready jobs and claims them through writes.claim on the worker's own connection
(jobs.worker.workerdb), reading that backend's CPU from /proc; then the same with the ledger's
triggers disabled (their share of the cost); then the INSERT … ON CONFLICT alone (the claim
until 2026-12-05, now its fallback); then `UPDATE … WHERE id = ANY(batch)` in batches of
--batch, the statement a batched claim would make; then outcomes as a worker concludes them,
--outcomes per statement. Rounds interleave them; the figures are medians. PostgreSQL must
run on this machine (its backend's /proc entry).

Prints `name = value unit` lines; exits non-zero if it could not measure.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TICKS = os.sysconf("SC_CLK_TCK")
FILL = """
INSERT INTO jobs_job (id, class_name, queue, priority, args, kwargs, state, scheduled_at,
    attempts, max_attempts, worker, process_id, concurrency_key, concurrency_limit,
    concurrency_duration, created_at, published_at, claimed_at, error_class, error_message,
    error_traceback)
SELECT id, 'BenchClaimJob', 'default', 0, '[1]', '{}', 'ready', now(), 0, 5, '', NULL, '',
    0, 0, now(), now(), NULL, '', '', ''
FROM unnest(%s::uuid[]) id
"""
BATCH = """
UPDATE jobs_job SET state = 'claimed', attempts = attempts + 1, worker = %s,
    process_id = %s, claimed_at = now()
WHERE id = ANY(%s) AND state = 'ready'
RETURNING id, attempts, max_attempts, claimed_at
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=3000, help="jobs claimed per figure")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8, help="jobs per batched statement")
    parser.add_argument(
        "--outcomes", type=int, default=25, help="outcomes per conclude (one flush's worth)"
    )
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL"):
        parser.error("DATABASE_URL must be set (use a scratch database)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")  # settings need one; unused
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    bench = ClaimBench(args.jobs, args.batch, args.outcomes)
    if not bench.stat.exists():
        print("PostgreSQL's backend is not a process of this machine", file=sys.stderr)
        return 1
    sides: dict[str, Callable[[list[str]], int]] = {
        "claim_pg_cpu_per_job": bench.one_by_one,
        "claim_pg_cpu_per_job_without_triggers": bench.without_triggers,
        "claim_pg_cpu_per_job_insert_on_conflict": bench.insert_on_conflict,
        f"claim_pg_cpu_per_job_batched_{args.batch}": bench.batched,
        f"conclude_pg_cpu_per_job_batches_of_{args.outcomes}": bench.conclude,
    }
    figures: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, claim in sides.items():
            figures[name].append(bench.measure(claim))
    bench.db.execute("TRUNCATE jobs_job, jobs_jobmetric, jobs_jobattempt, jobs_jobstat")
    for name, values in figures.items():
        print(f"{name} = {statistics.median(values):.0f} us")
    return 0


class ClaimBench:
    """Claims on the worker's own connection (jobs.worker.workerdb), its backend's CPU read
    from /proc."""

    def __init__(self, jobs: int, batch: int, outcomes: int) -> None:
        from jobs.worker import workerdb

        self.jobs, self.batch, self.outcomes, self.workerdb = jobs, batch, outcomes, workerdb
        self.db = workerdb.connection()
        row = self.db.execute("SELECT pg_backend_pid()").fetchone()
        self.stat = Path(f"/proc/{row[0] if row else 0}/stat")

    def cpu(self) -> float:
        fields = self.stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def measure(self, claim: Callable[[list[str]], int]) -> float:
        """Backend CPU per job, in µs, to claim a fresh ledger of ready jobs (to conclude
        them, for `conclude`: their claims are made before the clock starts)."""
        self.db.execute(
            "TRUNCATE jobs_job, jobs_jobmetric, jobs_jobattempt, jobs_jobstat, "
            "django_celery_results_taskresult"
        )
        ids = [str(uuid.uuid4()) for _ in range(self.jobs)]
        self.db.execute(FILL, [ids])
        if claim == self.conclude:
            self.batched(ids)
        self.db.execute("VACUUM ANALYZE jobs_job")
        before = self.cpu()
        claimed = claim(ids)
        used = self.cpu() - before
        if claimed != len(ids):
            raise SystemExit(f"claimed {claimed} of {len(ids)} jobs")
        return used / len(ids) * 1e6

    def one_by_one(self, ids: list[str]) -> int:
        from jobs.ledger import writes

        claims = [
            writes.claim(
                job_id=job_id,
                class_name="BenchClaimJob",
                queue="default",
                priority=0,
                args=[1],
                kwargs={},
                worker="bench@localhost",
                process_id=None,
                max_attempts=5,
            )
            for job_id in ids
        ]
        return sum(claim is not None for claim in claims)

    def without_triggers(self, ids: list[str]) -> int:
        self.db.execute("ALTER TABLE jobs_job DISABLE TRIGGER USER")
        try:
            return self.one_by_one(ids)
        finally:
            self.db.execute("ALTER TABLE jobs_job ENABLE TRIGGER USER")

    def conclude(self, ids: list[str]) -> int:
        """Finished outcomes of claimed jobs, as OutcomeBuffer flushes them (TaskResult too)."""
        from jobs.ledger import writes
        from jobs.models import State

        result: writes.TaskResultColumns = {
            "task_name": "BenchClaimJob",
            "task_args": '"(1,)"',
            "task_kwargs": '"{}"',
            "status": "SUCCESS",
            "worker": "bench@localhost",
            "content_type": "application/json",
            "content_encoding": "utf-8",
            "result": "null",
            "traceback": None,
            "meta": '{"children": []}',
            "periodic_task_name": None,
        }
        outcomes = [writes.Outcome(job_id, 1, State.FINISHED, result) for job_id in ids]
        return sum(
            writes.conclude(outcomes[start : start + self.outcomes])
            for start in range(0, len(outcomes), self.outcomes)
        )

    def insert_on_conflict(self, ids: list[str]) -> int:
        """The claim as it was until 2026-12-05, and still is when the plain UPDATE claims
        nothing: one INSERT … ON CONFLICT DO UPDATE per job (it fires both the ledger's
        INSERT and UPDATE triggers)."""
        from jobs.ledger import writes

        return sum(
            self.workerdb.fetchone(
                writes._CLAIM_OR_ADOPT,
                [job_id, "BenchClaimJob", "default", 0, "[1]", "{}", 5, "bench@localhost", None],
            )
            is not None
            for job_id in ids
        )

    def batched(self, ids: list[str]) -> int:
        batches = [ids[start : start + self.batch] for start in range(0, len(ids), self.batch)]
        return sum(
            len(self.workerdb.fetchall(BATCH, ["bench@localhost", None, batch]))
            for batch in batches
        )


if __name__ == "__main__":
    sys.exit(main())
