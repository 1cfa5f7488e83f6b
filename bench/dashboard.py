"""Jobs dashboard and /metrics on a big ledger: page times with 1,000,000 job rows.

Fills the ledger of DATABASE_URL (use a scratch database: it deletes and inserts jobs) with
--rows jobs in a realistic mix (mostly finished, some failed, discarded, scheduled, ready,
blocked, claimed; 8 classes, 4 queues, finished over the last 7 days) with their runs and
stats as migration 0008 backfills them, plus a retried error run for ~5% of finished jobs;
vacuums, then times each dashboard page and a /metrics scrape through Django's test client
(in-process, so the figure is the server time: queries plus rendering), median and max of
--repeat requests after a first one (printed as `_first`: cold caches, sampled percentiles
computed rather than kept).

Prints `name = value unit` lines; exits non-zero if a page does not answer 200.
"""

from __future__ import annotations

import argparse
import importlib
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIND = "/admin/jobs/job/dashboard/find/"
_THREE_DAYS_AGO = (datetime.now(UTC) - timedelta(days=3)).isoformat()
_FURTHER = {
    "q": "user_id=42",
    "state": "finished",
    "after": f"finished_{_THREE_DAYS_AGO}_ffffffff-ffff-4fff-bfff-ffffffffffff",
}
PAGES = [
    ("overview", "/admin/jobs/job/dashboard/"),
    ("overview_24h", "/admin/jobs/job/dashboard/?window=24h"),
    ("overview_7d", "/admin/jobs/job/dashboard/?window=7d"),
    ("queue_stats_1h", "/admin/jobs/job/dashboard/queues/default/"),
    ("queue_stats_24h", "/admin/jobs/job/dashboard/queues/default/?window=24h"),
    ("queue_stats_7d", "/admin/jobs/job/dashboard/queues/default/?window=7d"),
    ("failed_tab", "/admin/jobs/job/dashboard/failed/"),
    ("failed_filtered", "/admin/jobs/job/dashboard/failed/?class=EmailNotificationJob&since=24h"),
    ("finished_tab", "/admin/jobs/job/dashboard/finished/"),
    ("finished_tab_page_100", "/admin/jobs/job/dashboard/finished/?page=100"),
    ("scheduled_tab", "/admin/jobs/job/dashboard/scheduled/"),
    ("triage_7d", "/admin/jobs/job/dashboard/triage/?window=7d"),
    ("workers", "/admin/jobs/job/dashboard/workers/"),
    ("find_by_id_prefix", "/admin/jobs/job/dashboard/find/?q=abcd"),
    ("find_by_argument_finished", f"{FIND}?q=user_id%3D42&state=finished"),
    ("find_by_argument_any_state", f"{FIND}?q=user_id%3D42"),
    # Goes on three days back in the finished tab, as after a few "search further".
    ("find_search_further", f"{FIND}?{urlencode(_FURTHER)}"),
]
# A failed job with 5 runs (FIVE_RUNS_SQL), for the job page's attempts table.
FIVE_RUNS_ID = "00000000-0000-4000-8000-000000000005"
PAGES.append(("job_page_5_attempts", f"/admin/jobs/job/dashboard/job/{FIVE_RUNS_ID}/"))

FILL = """
INSERT INTO jobs_job (id, class_name, queue, priority, args, kwargs, state, scheduled_at,
    attempts, max_attempts, worker, process_id, concurrency_key, concurrency_limit,
    concurrency_duration, created_at, published_at, claimed_at, finished_at, error_class,
    error_message, error_traceback)
SELECT gen_random_uuid(),
       (ARRAY['EmailNotificationJob','ContentIndexingJob','ReportGenerationJob','PruneJobsJob',
              'WelcomeJob','DigestJob','SweepJob','ExportJob'])[1 + i % 8],
       (ARRAY['high_priority','default','search','reports'])[1 + i % 4],
       i % 10, jsonb_build_array(i, 'new_comment'), '{}'::jsonb,
       s.state, t.at, 1, 5, 'bench@localhost', NULL,
       CASE WHEN s.state = 'blocked' THEN 'ReportGenerationJob:' || (i % 50) ELSE '' END,
       CASE WHEN s.state = 'blocked' THEN 1 ELSE 0 END, 900,
       t.at - interval '2 seconds', t.at - interval '1 second',
       CASE WHEN s.state IN ('finished','failed','claimed') THEN t.at - interval '0.5 s' END,
       CASE WHEN s.state IN ('finished','failed','discarded') THEN t.at END,
       CASE WHEN s.state = 'failed'
            THEN (ARRAY['SMTPException','TimeoutError','KeyError'])[1 + i % 3]
            WHEN s.state = 'discarded' THEN 'DoesNotExist' ELSE '' END,
       CASE WHEN s.state IN ('failed','discarded') THEN 'error ' || (i % 100) ELSE '' END, ''
FROM generate_series(1, %s) i,
LATERAL (SELECT CASE WHEN i % 1000 < 950 THEN 'finished' WHEN i % 1000 < 970 THEN 'failed'
                     WHEN i % 1000 < 980 THEN 'discarded' WHEN i % 1000 < 990 THEN 'scheduled'
                     WHEN i % 1000 < 996 THEN 'ready' WHEN i % 1000 < 998 THEN 'blocked'
                     ELSE 'claimed' END AS state) s,
LATERAL (SELECT CASE WHEN s.state = 'scheduled' THEN now() + (i % 86400) * interval '1 second'
                     ELSE now() - (i % 604800) * interval '1 second' END AS at) t
"""


# Runs besides each job's last (which migration 0008's BACKFILL adds): ~5% of finished jobs
# had a retried error first, so triage's error counts see more than the failed jobs.
EXTRA_RUNS = """
INSERT INTO jobs_jobattempt (job_id, attempt, class_name, queue, worker, process_id,
    started_at, finished_at, waited, outcome, error_class, error_message, error_traceback)
SELECT id, 1, class_name, queue, worker, NULL, claimed_at - interval '30 seconds',
    claimed_at - interval '29.5 seconds', 0.5, 'retried',
    (ARRAY['SMTPException','TimeoutError','ConnectionError'])[1 + (hashtext(id::text) & 65535) % 3],
    'retried error ' || (hashtext(id::text) & 127),
    'Traceback (most recent call last):' || chr(10) || '  File "jobs/base.py", line 1'
FROM jobs_job WHERE state = 'finished' AND random() < 0.05
"""

FIVE_RUNS_SQL = (
    """
INSERT INTO jobs_job (id, class_name, queue, priority, args, kwargs, state, scheduled_at,
    attempts, max_attempts, worker, process_id, concurrency_key, concurrency_limit,
    concurrency_duration, created_at, published_at, claimed_at, finished_at, error_class,
    error_message, error_traceback)
VALUES (%(id)s, 'EmailNotificationJob', 'default', 0, '[1, "new_comment"]', '{}', 'failed',
    now() - interval '1 hour', 5, 5, 'bench@localhost', NULL, '', 0, 900,
    now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 minute', now(),
    'SMTPException', 'error 5', 'Traceback (most recent call last):')
ON CONFLICT (id) DO NOTHING
""",
    """
INSERT INTO jobs_jobattempt (job_id, attempt, class_name, queue, worker, process_id,
    started_at, finished_at, waited, outcome, error_class, error_message, error_traceback)
SELECT %(id)s, n, 'EmailNotificationJob', 'default', 'bench@localhost', NULL,
    now() - (60 - n * 10) * interval '1 minute', now() - (59 - n * 10) * interval '1 minute',
    n, CASE WHEN n = 5 THEN 'failed' ELSE 'retried' END, 'SMTPException', 'error ' || n,
    'Traceback (most recent call last):' || chr(10) || '  File "jobs/base.py", line ' || n
FROM generate_series(1, 5) n
WHERE NOT EXISTS (SELECT 1 FROM jobs_jobattempt WHERE job_id = %(id)s)
""",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="reuse the rows of an earlier run")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        parser.error("DATABASE_URL and REDIS_URL must be set (use a scratch database)")
    # Production settings (no DEBUG query log); its static manifest needs a collectstatic.
    static_root = tempfile.mkdtemp(prefix="naija-dash-static-")
    os.environ.update(
        DEBUG="0",
        HTTPS="0",
        METRICS_TOKEN="bench",
        ALLOWED_HOSTS="testserver",
        STATIC_ROOT=static_root,
    )
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from forum.models import User
    from jobs.ledger import stats

    backfill = importlib.import_module("jobs.migrations.0008_attempts_and_stats").BACKFILL

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM jobs_job")
        existing = cursor.fetchone()[0]
        if not (args.keep and existing >= args.rows):
            print(f"filling the ledger with {args.rows:,} jobs …", file=sys.stderr)
            cursor.execute("TRUNCATE jobs_job, jobs_jobmetric, jobs_jobattempt, jobs_jobstat")
            started = time.monotonic()
            cursor.execute(FILL.replace("%", "%%").replace("%%s", "%s"), [args.rows])
            # Runs and stats as migration 0008 backfills them (not the trigger's deltas too).
            cursor.execute("TRUNCATE jobs_jobstat")
            cursor.execute(EXTRA_RUNS)
            cursor.execute(backfill)
            print(f"  {time.monotonic() - started:.0f}s", file=sys.stderr)
        for statement in FIVE_RUNS_SQL:
            cursor.execute(statement, {"id": FIVE_RUNS_ID})
        stats.compact()  # as the dispatcher does each minute
        cursor.execute("VACUUM (ANALYZE) jobs_job, jobs_jobattempt, jobs_jobstat")
        cursor.execute("SELECT count(*) FROM jobs_job")
        rows = cursor.fetchone()[0]
    admin, _ = User.objects.get_or_create(
        username="bench-admin",
        defaults={"email": "bench@example.com", "is_staff": True, "is_superuser": True},
    )
    client = Client()
    client.force_login(admin)
    figures = [("ledger_rows", f"{rows}", "jobs")]
    for name, url in [*PAGES, ("metrics_scrape", "/metrics")]:
        times = []
        for _ in range(args.repeat + 1):  # the first warms caches: printed apart
            started = time.perf_counter()
            response = client.get(url, headers={"Authorization": "Bearer bench"})
            times.append(time.perf_counter() - started)
            if response.status_code != 200:
                print(f"{url} answered {response.status_code}", file=sys.stderr)
                return 1
        # The first request: cold caches, and a sampled percentile computed rather than kept.
        figures.append((f"{name}_first", f"{times[0] * 1000:.1f}", "ms"))
        times = times[1:]
        figures.append((f"{name}_p50", f"{statistics.median(times) * 1000:.1f}", "ms"))
        figures.append((f"{name}_max", f"{max(times) * 1000:.1f}", "ms"))
    for name, value, unit in figures:
        print(f"{name} = {value} {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
