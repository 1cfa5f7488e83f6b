"""Email benchmark: new_comment notification emails through real workers to an SMTP sink.

Seeds members, posts and comments (with their in-app notifications) in the database of
DATABASE_URL — whose name must contain "bench": the forum, notification and job tables are
emptied first — starts a private redis-server and a loopback SMTP server (aiosmtpd), one
Celery worker with 2 processes, and enqueues one EmailNotificationJob("new_comment") per
comment in batches of 500 (enqueue_all, one transaction each).

Figures (stdout, `name = value unit`):
- burst: all N jobs enqueued as fast as possible: emails/s (first commit → last email
  received) and enqueue→delivered p50 / p95 (commit of its batch → its arrival at the sink);
- burst: CPU time per email of every process that carries it (workers, Redis, PostgreSQL
  backends, this process with the SMTP server), and the rate those CPU costs would allow on
  2 cores of their own — a figure the other tenants of a shared machine do not move;
- paced: 1,000 jobs at 100/s into idle workers: enqueue→delivered p50 / p95.

Target: burst ≥ 200 emails/s. Exits non-zero when it could not measure (an email missing
or sent twice, a worker that did not start).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/naija_bench_email \
        .venv/bin/python bench/emails.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This file is named like the standard library's `email` package: run as a script, its
# folder must not stay first on sys.path, or `import email` would find this file.
sys.path[0] = str(ROOT)

import argparse  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

from bench.jobs import Bench, django_on_private_redis, log, ms, pct  # noqa: E402
from devtools.mailsink import MailSink  # noqa: E402

BATCH = 500
WARM_UP = 20
COMMENT_ID = re.compile(rb"#comment-(\d+)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--paced", type=int, default=1_000, help="emails sent at 100/s")
    args = parser.parse_args(argv)
    database = urlsplit(os.environ.get("DATABASE_URL", "")).path.lstrip("/")
    if "bench" not in database:
        parser.error(
            "DATABASE_URL must name a bench database (e.g. naija_bench_email): it is emptied"
        )

    sink = MailSink().start()
    try:
        with django_on_private_redis("naija-email-bench-", EMAIL_URL=sink.url) as (url, tmp):
            figures = EmailBench(url, tmp, args.concurrency, sink).run(args)
    finally:
        sink.stop()
    for name, value, unit in figures:
        print(f"{name} = {value} {unit}")
    return 0


class EmailBench(Bench):
    def __init__(self, redis_url: str, tmp: Path, concurrency: int, sink: MailSink) -> None:
        super().__init__(redis_url, tmp, concurrency)
        self.sink = sink

    def run(self, args) -> list[tuple[str, str, str]]:
        comments = self.seed(WARM_UP + args.emails + args.paced)
        warm_up, paced = comments[:WARM_UP], comments[-args.paced :]
        burst = comments[WARM_UP : WARM_UP + args.emails]
        with self.workers("ours"):
            self.send(warm_up, rate=None)  # each process opens its SMTP connection
            self.wait_delivered(WARM_UP, timeout=60)
            self.sink.received.clear()
            started = time.time()
            with CpuMeter(sink_thread=self.sink.thread_id) as cpu:
                committed = self.send(burst, rate=None)
                arrivals = self.wait_delivered(len(burst), timeout=max(120, len(burst) / 20))
            cpu_ms, sink_ms = (seconds / len(burst) * 1000 for seconds in cpu.seconds())
            rate = len(burst) / (max(arrivals.values()) - started)
            burst_latency = [arrivals[c] - committed[c] for c in burst]
            log(f"burst: {len(burst):,} emails at {rate:.0f}/s; per tenth: {tenths(arrivals)}")
            self.sink.received.clear()
            committed = self.send(paced, rate=100)
            arrivals = self.wait_delivered(len(paced), timeout=60 + len(paced) / 50)
            paced_latency = [arrivals[c] - committed[c] for c in paced]
        return [
            ("email_burst_throughput", f"{rate:.0f}", "emails/s"),
            ("email_burst_cpu_per_email", f"{cpu_ms:.2f}", "ms"),
            ("email_burst_smtp_server_cpu_per_email", f"{sink_ms:.2f}", "ms"),
            ("email_cpu_bound_rate_2_cores", f"{2000 / (cpu_ms + sink_ms):.0f}", "emails/s"),
            ("email_cpu_bound_rate_2_cores_smtp_elsewhere", f"{2000 / cpu_ms:.0f}", "emails/s"),
            ("email_burst_enqueue_to_delivered_p50", ms(pct(burst_latency, 50)), "ms"),
            ("email_burst_enqueue_to_delivered_p95", ms(pct(burst_latency, 95)), "ms"),
            ("email_paced_enqueue_to_delivered_p50", ms(pct(paced_latency, 50)), "ms"),
            ("email_paced_enqueue_to_delivered_p95", ms(pct(paced_latency, 95)), "ms"),
        ]

    def seed(self, n: int) -> list[int]:
        """n comments on 1,000 members' posts, each by another member, with notifications."""
        from django.contrib.auth.hashers import make_password
        from django.db import connection, transaction

        from forum.markdown import render_markdown
        from forum.models import Board, Comment, Post, Section, User
        from notifications.models import Notification

        log(f"seeding {n:,} comments")
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE forum_user, forum_section, jobs_job, django_celery_results_taskresult, "
                "notifications_emaildelivery RESTART IDENTITY CASCADE"
            )
        members = 1000
        with transaction.atomic():
            password = make_password("bench")
            users = User.objects.bulk_create(
                User(username=f"bench{i}", email=f"bench{i}@example.com", password=password)
                for i in range(members)
            )
            section = Section.objects.create(name="Bench", slug="bench")
            board = Board.objects.create(section=section, name="Bench", slug="bench")
            posts = Post.objects.bulk_create(
                Post(board=board, author=u, title=f"Topic {i}", body="b", body_html="<p>b</p>")
                for i, u in enumerate(users)
            )
            body = "Good point, I agree with you on this one."
            comments = Comment.objects.bulk_create(
                Comment(
                    post=posts[i % members],
                    author=users[(i + 1) % members],
                    body=body,
                    body_html=render_markdown(body),
                )
                for i in range(n)
            )
            Notification.objects.bulk_create(
                Notification(
                    recipient_id=c.post.author_id,
                    notification_type="new_comment",
                    actor_id=c.author_id,
                    post_id=c.post_id,
                    comment=c,
                    email_pending=True,
                )
                for c in comments
            )
        with connection.cursor() as cursor:  # fresh statistics, or the planner guesses
            cursor.execute(
                "VACUUM (ANALYZE) forum_user, forum_post, forum_comment, "
                "notifications_notification, notifications_emaildelivery, jobs_job"
            )
        self.recipient = {c.pk: c.post.author_id for c in comments}
        return [c.pk for c in comments]

    def send(self, comment_ids: list[int], *, rate: float | None) -> dict[int, float]:
        """Enqueue one job per comment (batches of 500, or one a tick at `rate`/s); returns
        each comment's commit time."""
        from django.db import transaction

        from jobs.base import enqueue_all
        from notifications.tasks import EmailNotificationJob

        step = BATCH if rate is None else 1
        committed: dict[int, float] = {}
        began = time.monotonic()
        for start in range(0, len(comment_ids), step):
            batch = comment_ids[start : start + step]
            with transaction.atomic():
                enqueue_all(
                    EmailNotificationJob.s(self.recipient[c], "new_comment", c) for c in batch
                )
            committed.update(dict.fromkeys(batch, time.time()))  # publish follows the commit
            if rate is None and start == BATCH:
                self.analyze_ledger()
            if rate:
                time.sleep(max(0.0, began + (start + 1) / rate - time.monotonic()))
        return committed

    def analyze_ledger(self) -> None:
        """The ledger starts empty here, unlike in production where it holds days of finished
        jobs. Planned for an empty table, the workers' ledger statements scan it whole until
        autovacuum catches up (the first 30 s of a burst ran at a fifth of the speed): give
        the planner statistics once it holds a thousand jobs."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "ANALYZE jobs_job, django_celery_results_taskresult, notifications_emaildelivery"
            )

    def wait_delivered(self, n: int, *, timeout: float) -> dict[int, float]:
        """Arrival time per comment id, once n emails arrived; exits when one is missing."""
        deadline = time.monotonic() + timeout
        while len(self.sink.received) < n:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(self.sink.received)} of {n} emails in {timeout:.0f}s")
            time.sleep(0.05)
        time.sleep(1)  # anything sent twice would arrive now
        arrivals = {int(COMMENT_ID.search(raw).group(1)): at for at, raw in self.sink.received}
        if len(self.sink.received) != n or len(arrivals) != n:
            raise SystemExit(f"{len(self.sink.received)} emails for {len(arrivals)} comments")
        return arrivals


class CpuMeter(threading.Thread):
    """CPU time of the processes that carry the emails — the workers, this process (which
    enqueues), Redis and this database's PostgreSQL backends — and apart from them the SMTP
    server's thread, sampled from /proc twice a second. Unlike emails/s, other tenants of a
    shared machine do not move it."""

    def __init__(self, *, sink_thread: int | None) -> None:
        super().__init__(daemon=True)
        self.sink = f"{os.getpid()}/task/{sink_thread}"
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.done = threading.Event()
        self.tick = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> tuple[float, float]:
        """(ours, the SMTP server's) CPU seconds; ours without the server thread."""
        used = {key: self.last[key] - self.first[key] for key in self.last}
        sink = used.get(self.sink, 0.0)
        return sum(used.values()) - 2 * sink, sink  # the process total includes the thread

    def __enter__(self) -> CpuMeter:
        self.sample()
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.join()
        self.sample()

    def run(self) -> None:
        from django.db import connection

        while not self.done.wait(0.5):
            self.sample()
        connection.close()  # this thread's own

    def sample(self) -> None:
        for key in [*map(str, self.pids()), self.sink]:
            try:
                with open(f"/proc/{key}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:  # the process ended
                continue
            cpu = (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime
            self.first.setdefault(key, cpu)
            self.last[key] = cpu

    def pids(self) -> list[int]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            pids = [row[0] for row in cursor.fetchall()] + [os.getpid()]
        redis_port = os.environ["REDIS_URL"].rsplit(":", 1)[1].split("/")[0]
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        cmdline = f.read()
                except OSError:
                    continue
                if b"bench-ours-" in cmdline or (
                    b"redis-server" in cmdline and f":{redis_port}".encode() in cmdline
                ):
                    pids.append(int(entry))
        return pids


def tenths(arrivals: dict[int, float]) -> str:
    """Emails/s in each tenth of the burst, by arrival: shows whether the rate holds up."""
    times = sorted(arrivals.values())
    step = len(times) // 10
    return " ".join(
        f"{step / (times[i + step - 1] - times[i]):.0f}" for i in range(0, step * 10, step)
    )


if __name__ == "__main__":
    sys.exit(main())
