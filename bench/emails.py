"""Email benchmark: new_comment emails through our job layer against a bare Celery task
sending the same email, in one invocation (issue 21).

Seeds members, posts and comments (with their in-app notifications) in the database of
DATABASE_URL — whose name must contain "bench": the forum, notification and job tables are
emptied first — and starts a private redis-server and a loopback SMTP server (aiosmtpd). Two
sides, each one worker with --concurrency processes (2) and Celery's default prefetch:

(a) bare Celery, the fixed baseline (bench/bare_email.py): reads the recipient and the comment
    with the ORM, renders the same templates with the same context and sends the same
    EmailMultiAlternatives over one SMTP connection kept per process; no ledger, no delivery
    row, no preferences or read/hidden checks; kombu's Redis transport, Celery's default log
    level (WARNING);
(b) ours as production runs it: EmailNotificationJob("new_comment") through the ledger
    (claim, outcome, result row), the delivery log (reserve → send → mark) and every check;
    our Redis transport, the production worker's queues, LOG_LEVEL=INFO.

Method (as bench/jobs.py): the sides are interleaved over --rounds rounds (the order alternates
each round). Each drain starts a fresh worker, sends WARM_UP emails (SMTP connections opened,
statements prepared), has it stop consuming, pre-enqueues --emails jobs (one per comment,
never a comment sent before), and has it consume again; the drain is timed from the first
email's arrival at the sink to the last one's. CPU per email is utime + stime from /proc from
just before the drain until every message is acknowledged (and, for (b), every outcome
written): the worker's main process, its pool, the database's PostgreSQL backends but this
script's own, the redis-server; the SMTP server's thread apart. Ratios are per round; the
summary figures are medians over the rounds. The SMTP server does the same work for either
side, so its CPU per email follows the machine's speed during a drain: the machine-adjusted
CPU ratio divides each side's CPU per email by it. It is steadier between rounds on a shared
machine, and flatters the slower side somewhat (a server receiving emails more slowly spends
a little more per email), so the target is read on the drain ratio. Then, on (b) only,
--paced jobs at 100/s into idle workers: enqueue → delivered p50 / p95.

Figures (stdout, `name = value unit`): per round the drain rate of each side, their ratio,
CPU per email of each side; medians: email_drain_bare / _ours, email_ratio_to_bare,
email_cpu_per_email_<side> (total and by process), email_cpu_ratio_to_bare and
email_cpu_ratio_to_bare_machine_adjusted, the SMTP server's CPU per email; paced latency.

Target (issue 21): email_ratio_to_bare >= 0.75. Exits non-zero when it could not measure (an
email missing or sent twice, a worker that did not start). The burst under SIGKILLs is
bench/email_chaos.py.

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
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

from bench.jobs import PROCESSES, Bench, CpuClock, django_on_private_redis, log, ms, pct  # noqa: E402
from devtools.mailsink import MailSink  # noqa: E402

BATCH = 500
WARM_UP = 20
COMMENT_ID = re.compile(rb"#comment-(\d+)")
SIDES = ("bare", "ours")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--emails", type=int, default=5_000, help="emails per side and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both sides, interleaved")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--paced", type=int, default=1_000, help="emails sent at 100/s (0: none)")
    args = parser.parse_args(argv)
    check_bench_database(parser)
    if args.rounds < 1 or args.emails < 2:
        parser.error("--rounds must be at least 1 and --emails at least 2")

    sink = MailSink().start()
    try:
        with django_on_private_redis("naija-email-bench-", EMAIL_URL=sink.url) as (url, tmp):
            bench = EmailBench(url, tmp, args.concurrency, sink)
            for line in bench.setup(args):
                print(f"# {line}", flush=True)
            figures = bench.run(args)
    finally:
        sink.stop()
    for name, value, unit in figures:
        print(f"{name} = {value} {unit}")
    return 0


def check_bench_database(parser: argparse.ArgumentParser) -> None:
    database = urlsplit(os.environ.get("DATABASE_URL", "")).path.lstrip("/")
    if "bench" not in database:
        parser.error(
            "DATABASE_URL must name a bench database (e.g. naija_bench_email): it is emptied"
        )


class EmailBench(Bench):
    BARE_APP = "bench.bare_email"
    JOB_CLASS = "EmailNotificationJob"

    def __init__(self, redis_url: str, tmp: Path, concurrency: int, sink: MailSink) -> None:
        super().__init__(redis_url, tmp, concurrency)
        self.sink = sink

    def setup(self, args) -> list[str]:
        return [
            f"{args.rounds} rounds of {args.emails:,} new_comment emails per side, interleaved; "
            f"concurrency {self.concurrency} and prefetch multiplier 4 on both sides",
            "bare: stock Celery + Django (bench/bare_email.py), acks_late, kombu's Redis "
            "transport, no result backend, log level WARNING; ORM reads, same templates, "
            "same EmailMultiAlternatives, one SMTP connection per process",
            "ours: EmailNotificationJob as production: ledger, delivery log, every check, "
            "our Redis transport, LOG_LEVEL=INFO",
            f"CPU per email: /proc utime+stime, from after {WARM_UP} warm-up emails to the last "
            "acknowledgement (and ledger outcome); SMTP server apart; medians over rounds",
        ]

    def run(self, args) -> list[tuple[str, str, str]]:
        per_drain = WARM_UP + args.emails
        comments = self.seed(2 * args.rounds * per_drain + WARM_UP + args.paced)
        drains = iter(range(0, 2 * args.rounds * per_drain, per_drain))
        rates: dict[str, list[float]] = {side: [] for side in SIDES}
        cpus: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
        figures: list[tuple[str, str, str]] = []
        for r in range(1, args.rounds + 1):
            for side in SIDES if r % 2 else SIDES[::-1]:
                start = next(drains)
                rate, cpu = self.drain(side, comments[start : start + per_drain])
                rates[side].append(rate)
                cpus[side].append(cpu)
            this_round = round_figures(r, rates, cpus)
            for name, value, unit in this_round:
                log(f"{name} = {value} {unit}")
            figures += this_round
        figures += summary_figures(rates, cpus)
        if not args.paced:
            return figures
        warm_up, paced = comments[-WARM_UP - args.paced : -args.paced], comments[-args.paced :]
        self.reset()
        with self.workers("ours"):
            self.sink.received.clear()
            self.send("ours", warm_up, rate=None)
            self.wait_delivered(len(warm_up), timeout=60)
            self.sink.received.clear()
            committed = self.send("ours", paced, rate=100)
            arrivals = self.wait_delivered(len(paced), timeout=60 + len(paced) / 50)
        latency = [arrivals[c] - committed[c] for c in paced]
        return figures + [
            ("email_paced_enqueue_to_delivered_p50", ms(pct(latency, 50)), "ms"),
            ("email_paced_enqueue_to_delivered_p95", ms(pct(latency, 95)), "ms"),
        ]

    def drain(self, side: str, comments: list[int]) -> tuple[float, dict[str, float]]:
        """A warmed-up worker that stopped consuming; the emails pre-enqueued; then it
        consumes again. Returns emails/s (first arrival → last) and CPU seconds per email
        by process."""
        self.reset()
        warm_up, burst = comments[:WARM_UP], comments[WARM_UP:]
        with self.workers(side) as (worker, hostname):
            self.sink.received.clear()
            self.send(side, warm_up, rate=None)  # each process opens its SMTP connection
            self.wait_delivered(len(warm_up), timeout=60)
            self.wait_settled(side, len(warm_up))
            self.consume(side, hostname, on=False)
            self.sink.received.clear()
            log(f"{side}: enqueueing {len(burst):,} emails")
            self.send(side, burst, rate=None)
            self.analyze_ledger()
            clock = SinkCpuClock(worker.pid, self.redis.info("server")["process_id"], self.sink)
            self.consume(side, hostname, on=True)
            timeout = max(120, len(burst) / 20)
            arrivals = self.wait_delivered(len(burst), timeout=timeout, tick=clock.sample)
            self.wait_settled(side, len(comments), tick=clock.sample)
            clock.sample()
        times = sorted(arrivals.values())
        rate = (len(burst) - 1) / (times[-1] - times[0])
        cpu = {name: seconds / len(burst) for name, seconds in clock.used().items()}
        log(
            f"{side}: {len(burst):,} emails at {rate:.0f}/s; per tenth: {tenths(arrivals)}; CPU "
            "per email " + ", ".join(f"{name} {s * 1000:.3f} ms" for name, s in cpu.items())
        )
        return rate, cpu

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

    def send(self, side: str, comment_ids: list[int], *, rate: float | None) -> dict[int, float]:
        """Enqueue one job per comment (batches of 500, or one a tick at `rate`/s); returns
        each comment's commit (ours) or publish (bare) time."""
        from django.db import transaction

        from jobs.base import enqueue_all
        from notifications.tasks import EmailNotificationJob

        step = BATCH if rate is None else 1
        committed: dict[int, float] = {}
        began = time.monotonic()
        for start in range(0, len(comment_ids), step):
            batch = comment_ids[start : start + step]
            if side == "bare":
                from bench.bare_email import app, new_comment_email

                with app.producer_or_acquire() as producer:
                    for c in batch:
                        args = [self.recipient[c], "new_comment", c]
                        new_comment_email.apply_async(args, producer=producer)
            else:
                with transaction.atomic():
                    enqueue_all(
                        EmailNotificationJob.s(self.recipient[c], "new_comment", c) for c in batch
                    )
            committed.update(dict.fromkeys(batch, time.time()))  # publish follows the commit
            if rate:
                time.sleep(max(0.0, began + (start + 1) / rate - time.monotonic()))
        return committed

    def analyze_ledger(self) -> None:
        """Statistics of the filled ledger, as autovacuum would gather them: planned for the
        empty table of reset(), the workers' ledger statements scan it whole (the first 30 s
        of a burst ran at a fifth of the speed). Also makes prepared statements plan again."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "ANALYZE jobs_job, django_celery_results_taskresult, notifications_emaildelivery"
            )

    def wait_delivered(
        self, n: int, *, timeout: float, tick: Callable[[], None] | None = None
    ) -> dict[int, float]:
        """Arrival time per comment id, once n emails arrived; exits when one is missing.
        Calls `tick` about once a second meanwhile."""
        deadline = time.monotonic() + timeout
        next_tick = time.monotonic() + 1
        while len(self.sink.received) < n:
            now = time.monotonic()
            if now > deadline:
                raise SystemExit(f"only {len(self.sink.received)} of {n} emails in {timeout:.0f}s")
            if tick is not None and now >= next_tick:
                tick()
                next_tick = now + 1
            time.sleep(0.05)
        time.sleep(1)  # anything sent twice would arrive now
        arrivals = {int(COMMENT_ID.search(raw).group(1)): at for at, raw in self.sink.received}
        if len(self.sink.received) != n or len(arrivals) != n:
            raise SystemExit(f"{len(self.sink.received)} emails for {len(arrivals)} comments")
        return arrivals


class SinkCpuClock(CpuClock):
    """bench/jobs.py's clock, plus the SMTP server's thread of this process (`smtp_sink`):
    both sides send to it, so it is counted apart from either."""

    def __init__(self, worker_pid: int, redis_pid: int, sink: MailSink) -> None:
        self.sink_task = f"{os.getpid()}/task/{sink.thread_id}"
        super().__init__(worker_pid, redis_pid)

    def processes(self) -> list[tuple[str, int | str]]:
        return [*super().processes(), ("smtp_sink", self.sink_task)]


def ours_total(cpu: dict[str, float]) -> float:
    """CPU seconds of a side's own processes: every one but the SMTP server."""
    return sum(seconds for name, seconds in cpu.items() if name != "smtp_sink")


def round_figures(
    r: int, rates: dict[str, list[float]], cpus: dict[str, list[dict[str, float]]]
) -> list[tuple[str, str, str]]:
    bare, ours = rates["bare"][-1], rates["ours"][-1]
    bare_cpu, ours_cpu = ours_total(cpus["bare"][-1]), ours_total(cpus["ours"][-1])
    return [
        (f"email_drain_round{r}_bare", f"{bare:.0f}", "emails/s"),
        (f"email_drain_round{r}_ours", f"{ours:.0f}", "emails/s"),
        (f"email_ratio_round{r}", f"{ours / bare:.2f}", "x"),
        (f"email_cpu_per_email_round{r}_bare", ms(bare_cpu), "ms"),
        (f"email_cpu_per_email_round{r}_ours", ms(ours_cpu), "ms"),
        (f"email_cpu_ratio_round{r}", f"{ours_cpu / bare_cpu:.2f}", "x"),
    ]


def summary_figures(
    rates: dict[str, list[float]], cpus: dict[str, list[dict[str, float]]]
) -> list[tuple[str, str, str]]:
    """Medians over the rounds; a ratio is the median of the rounds' ratios."""
    median = statistics.median
    figures = [(f"email_drain_{side}", f"{median(rates[side]):.0f}", "emails/s") for side in SIDES]
    figures.append(
        (
            "email_ratio_to_bare",
            f"{median(o / b for o, b in zip(rates['ours'], rates['bare'], strict=True)):.2f}",
            "x",
        )
    )
    for side in SIDES:
        for name in (*PROCESSES, "smtp_sink"):
            seconds = median(cpu[name] for cpu in cpus[side])
            figures.append((f"email_cpu_per_email_{side}_{name}", ms(seconds), "ms"))
        total = median(ours_total(cpu) for cpu in cpus[side])
        figures.append((f"email_cpu_per_email_{side}", ms(total), "ms"))
    pairs = list(zip(cpus["ours"], cpus["bare"], strict=True))
    ratios = [ours_total(o) / ours_total(b) for o, b in pairs]
    figures.append(("email_cpu_ratio_to_bare", f"{median(ratios):.2f}", "x"))
    # The SMTP server does the same work for either side, so its CPU per email follows how
    # fast the machine ran during that drain (a shared machine drifts by a quarter between
    # drains): each side's CPU in units of it compares the code more than the moment.
    adjusted = [
        (ours_total(o) / o["smtp_sink"]) / (ours_total(b) / b["smtp_sink"]) for o, b in pairs
    ]
    figures.append(("email_cpu_ratio_to_bare_machine_adjusted", f"{median(adjusted):.2f}", "x"))
    return figures


def tenths(arrivals: dict[int, float]) -> str:
    """Emails/s in each tenth of the burst, by arrival: shows whether the rate holds up."""
    times = sorted(arrivals.values())
    step = len(times) // 10
    return " ".join(
        f"{step / (times[i + step - 1] - times[i]):.0f}" for i in range(0, step * 10, step)
    )


if __name__ == "__main__":
    sys.exit(main())
