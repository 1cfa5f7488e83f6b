"""Jobs dashboard and /metrics on a big ledger: page times with 1,000,000 job rows.

Fills the ledger of DATABASE_URL (use a scratch database: it deletes and inserts jobs) with
--rows jobs in a realistic mix (mostly finished, some failed, discarded, scheduled, ready,
blocked, claimed; 8 classes, 4 queues, finished over the last 7 days), vacuums, then times
each dashboard page and a /metrics scrape through Django's test client (in-process, so the
figure is the server time: queries plus rendering), median and max of --repeat requests.

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
]

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
            # The runs and stats of those jobs, as migration 0008 counts an existing ledger
            # (its enqueue trigger's per-minute deltas replaced by the backfill's).
            cursor.execute("TRUNCATE jobs_jobstat")
            cursor.execute(
                importlib.import_module("jobs.migrations.0008_attempts_and_stats").BACKFILL
            )
            print(f"  {time.monotonic() - started:.0f}s", file=sys.stderr)
        stats.compact()  # as the dispatcher does each minute
        cursor.execute("VACUUM (ANALYZE) jobs_job")
        cursor.execute("VACUUM (ANALYZE) jobs_jobattempt")
        cursor.execute("VACUUM (ANALYZE) jobs_jobstat")
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
        for _ in range(args.repeat + 1):  # the first warms caches, not counted
            started = time.perf_counter()
            response = client.get(url, headers={"Authorization": "Bearer bench"})
            times.append(time.perf_counter() - started)
            if response.status_code != 200:
                print(f"{url} answered {response.status_code}", file=sys.stderr)
                return 1
        times = times[1:]
        figures.append((f"{name}_p50", f"{statistics.median(times) * 1000:.1f}", "ms"))
        figures.append((f"{name}_max", f"{max(times) * 1000:.1f}", "ms"))
    for name, value, unit in figures:
        print(f"{name} = {value} {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
