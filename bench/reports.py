"""Reports benchmark: wall time and peak RSS of building a report as the reports worker does.

For each size (default 100k, 300k and 1M posts) the database in DATABASE_URL is topped up
with seed_demo (users = posts / 10, as many comments and likes as posts, spread over a year),
then two reports are built, each in a fresh Python process running the job's body
(reports.services.generate_report), so its peak RSS is that of a worker process building
one report:

- `user_activity` for everyone over the last 30 days,
- `daily_summary` for yesterday.

Targets at 1M posts and 100k users: <= 10 s and <= 300 MB each, time growing linearly.
Figures go to stdout as `name = value unit`; progress goes to stderr.

    DATABASE_URL=postgres://…/naija_bench REDIS_URL=redis://…/13 python bench/reports.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
REPORTS = ("user_activity", "daily_summary")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="100000,300000,1000000", help="posts, comma-separated")
    parser.add_argument("--build", choices=REPORTS, help=argparse.SUPPRESS)  # the child's part
    args = parser.parse_args(argv)
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            parser.error(f"{name} must be set (or run through `python -m devtools.embedded run`)")
    if args.build:
        return build(args.build)

    with tempfile.TemporaryDirectory(prefix="naija-bench-reports-") as media:
        env = {
            "DEBUG": "1",  # a laptop run unless the caller says otherwise
            **os.environ,
            "MEDIA_ROOT": media,
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        manage(env, "migrate", "--no-input")
        timings: dict[str, list[tuple[int, float]]] = {name: [] for name in REPORTS}
        for posts in (int(size) for size in args.sizes.split(",")):
            manage(
                env,
                "seed_demo",
                "--users",
                str(posts // 10),
                "--posts",
                str(posts),
                "--comments",
                str(posts),
            )
            vacuum(env)
            label = f"{posts // 1000}k"
            for name in REPORTS:
                seconds, rss_mb, rows = measure(env, name)
                timings[name].append((posts, seconds))
                figure(f"{name}_{label}_wall", seconds, "s")
                figure(f"{name}_{label}_peak_rss", rss_mb, "MB")
                figure(f"{name}_{label}_rows", rows, "rows")
    for name, points in timings.items():
        (small, t_small), (large, t_large) = points[0], points[-1]
        if large > small:  # 1.0 = linear in the posts; below 1 = the fixed costs dominate
            figure(f"{name}_time_ratio_per_size_ratio", (t_large / t_small) / (large / small), "x")
    return 0


def measure(env: dict, name: str) -> tuple[float, float, int]:
    """Build one report in a fresh process: its wall time, peak RSS and table rows."""
    proc = subprocess.Popen(
        [PYTHON, __file__, "--build", name], cwd=ROOT, env=env, stdout=subprocess.PIPE
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"building {name} failed (status {status})")
    result = json.loads(out)
    return result["seconds"], usage.ru_maxrss / 1024, result["rows"]  # ru_maxrss is in KiB


def build(name: str) -> int:
    """The child: what ReportGenerationJob runs, timed."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from datetime import timedelta

    from django.utils import timezone

    from forum.models import User
    from reports.services import generate_report

    # Everyone's activity and the daily summary need reports.view_report: a superuser has it.
    admin, _ = User.objects.update_or_create(
        username="bench_reports",
        defaults={"email": "bench_reports@example.com", "is_staff": True, "is_superuser": True},
    )
    yesterday = timezone.localdate() - timedelta(days=1)
    parameters = {
        "user_activity": {
            "start_date": (yesterday - timedelta(days=29)).isoformat(),
            "end_date": yesterday.isoformat(),
            "user_id": None,
        },
        "daily_summary": {"date": yesterday.isoformat()},
    }[name]
    started = time.perf_counter()
    report = generate_report(report_type=name, parameters=parameters, user_id=admin.pk)
    seconds = time.perf_counter() - started
    if report is None or report.status != "ready":
        log(f"{name}: not ready: {report and report.error}")
        return 1
    rows = sum(len(table["rows"]) for table in report.result["tables"])
    log(f"{name}: {seconds:.2f} s, peak RSS {peak_rss_mb():.0f} MB, {rows} table rows")
    print(json.dumps({"seconds": seconds, "rows": rows}))
    return 0


def manage(env: dict, *command: str) -> None:
    log("manage.py " + " ".join(command))
    # Child output goes to stderr: stdout carries only the figures.
    if subprocess.run(
        [PYTHON, "manage.py", *command], cwd=ROOT, env=env, stdout=sys.stderr
    ).returncode:
        raise SystemExit(f"manage.py {command[0]} failed")


def vacuum(env: dict) -> None:
    """Fresh statistics after a bulk load, as autovacuum would give a long-running site."""
    script = (
        "import django; django.setup(); from django.db import connection; "
        "connection.cursor().execute('VACUUM ANALYZE')"
    )
    subprocess.run([PYTHON, "-c", script], cwd=ROOT, env=env, check=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def figure(name: str, value: float, unit: str) -> None:
    print(
        f"{name} = {value:.2f} {unit}" if isinstance(value, float) else f"{name} = {value} {unit}"
    )
    sys.stdout.flush()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
