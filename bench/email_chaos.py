"""Email reliability run: a burst of 10,000 new_comment emails while pool processes and whole
workers are SIGKILLed at random, until every job is done (issue 21).

Seeds comments as bench/emails.py does (DATABASE_URL must name a bench database: it is
emptied), starts a private redis-server, a loopback SMTP server, the dispatcher and two
workers (2 processes each), enqueues one EmailNotificationJob per comment, and kills as
bench/chaos.py does (one pool process, as the OOM killer does, or a whole worker, restarted
at once; mean --kill-every seconds apart), with recovery at a 5 s threshold.

A kill that lands between an email's SMTP send and its `sent` mark leaves that email's
delivery row `sending` with the email already at the server: the re-run of the job sends it
again — the bound README "Exactly once" states (at most one repeated email per job a crash
cut there). Just before each kill the bench notes the rows `sending` whose job the processes
about to die hold, and just after it which of them are still `sending`: those were cut; cut
between send and mark when the email reached the server before the kill (within 0.1 s of it:
an email in flight is received in milliseconds, a re-run waits for recovery). An email cut
twice counts twice.

Figures (stdout, `name = value unit`): emails expected, delivered (distinct), missing,
duplicated (copies beyond the first); emails_cut_between_send_and_mark (the bound on
duplicated) and emails_cut_before_send; jobs finished / failed / lost; kills by kind; time to
drain. Target: missing 0 and duplicated <= cut between send and mark. Exits non-zero when it
could not measure (a timeout, a worker that did not start).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/naija_bench_email \\
        .venv/bin/python bench/email_chaos.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # not bench/: bench/emails.py would shadow the stdlib's `email`

import argparse  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

from bench.chaos import RECOVERY, Chaos  # noqa: E402
from bench.emails import COMMENT_ID, EmailBench, check_bench_database  # noqa: E402
from bench.jobs import django_on_private_redis, log  # noqa: E402
from devtools.mailsink import MailSink  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--kill-every", type=float, default=3.0, help="mean seconds between kills")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args(argv)
    check_bench_database(parser)

    sink = MailSink().start()
    try:
        env = {**RECOVERY, "EMAIL_URL": sink.url}
        with django_on_private_redis("naija-email-chaos-", **env) as (url, tmp):
            figures = EmailChaos(url, tmp, args, sink).run()
    finally:
        sink.stop()
    for name, value, unit in figures:
        print(f"{name} = {value} {unit}")
    return 0


class EmailChaos(Chaos):
    def __init__(self, redis_url: str, tmp: Path, args, sink: MailSink) -> None:
        super().__init__(redis_url, tmp, args)
        self.sink = sink
        self.seeder = EmailBench(redis_url, tmp, 2, sink)
        # comment id → times a kill cut its job (twice cut, twice sent again)
        self.cut_after_send: Counter[int] = Counter()
        self.cut_before_send: Counter[int] = Counter()
        self.victims: list[int] = []
        self.held: set[int] = set()
        self.killed_at = 0.0

    def run(self) -> list[tuple[str, object, str]]:
        from django.db import connection

        from jobs.models import Job

        seeder = self.seeder
        comments = seeder.seed(self.args.emails)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM jobs_process")
        seeder.send("ours", comments, rate=None)
        seeder.analyze_ledger()
        log(f"enqueued {len(comments):,} emails")
        jobs = Job.objects.filter(class_name="EmailNotificationJob")
        kills, elapsed = self.kill_until_done(
            lambda: jobs.filter(state__in=["finished", "failed", "discarded"]).count(),
            len(comments),
            on_kill=self.look_at_cut_emails,
        )
        time.sleep(2)  # an email sent twice at the very end arrives now
        copies = Counter(self.comment_of(raw) for _, raw in self.sink.received)
        by_state = jobs.counts_by_state()
        finished, failed = by_state.get("finished", 0), by_state.get("failed", 0)
        delivered = sum(1 for c in comments if copies[c])
        return [
            ("emails_expected", len(comments), "emails"),
            ("emails_delivered", delivered, "emails"),
            ("emails_missing", len(comments) - delivered, "emails"),
            ("emails_duplicated", sum(n - 1 for n in copies.values() if n > 1), "emails"),
            ("emails_cut_between_send_and_mark", self.cut_after_send.total(), "emails"),
            ("emails_cut_before_send", self.cut_before_send.total(), "emails"),
            ("jobs_finished", finished, "jobs"),
            ("jobs_failed", failed, "jobs"),
            ("jobs_lost", len(comments) - finished - failed - by_state.get("discarded", 0), "jobs"),
            ("kills_pool_process", kills["fork"], "kills"),
            ("kills_whole_worker", kills["worker"], "kills"),
            ("drain_time", f"{elapsed:.1f}", "s"),
        ]

    def before_kill(self, pids: list[int]) -> None:
        """The delivery rows the processes about to die hold `sending` (their jobs' process
        rows, which recovery deletes soon after the kill, are read now)."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM jobs_process WHERE pid = ANY(%s)", [pids])
            self.victims = [row[0] for row in cursor.fetchall()]
        self.held = self.sending(self.victims)
        self.killed_at = time.time()

    def look_at_cut_emails(self, kind: str) -> None:
        """Right after a kill: the rows the dead processes held `sending` before it (or took
        in the instant before it) and that are still `sending` were cut. One is cut between
        send and mark when its email reached the server before the kill (an email in flight
        is received within milliseconds; a re-run needs the process found dead first)."""
        if kind == "none":
            return
        still = self.sending(self.victims)
        cut = (self.held & self.sending(None)) | still
        time.sleep(0.3)
        at_server = {
            self.comment_of(raw)
            for at, raw in list(self.sink.received)
            if at < self.killed_at + 0.1
        }
        self.cut_after_send.update(cut & at_server)
        self.cut_before_send.update(cut - at_server)
        if cut:
            after, before = len(cut & at_server), len(cut - at_server)
            log(f"  cut: {after} between send and mark, {before} before the send")

    @staticmethod
    def sending(process_ids: list[int] | None) -> set[int]:
        """Comments whose email is `sending`: every one, or those whose job a process of
        `process_ids` holds."""
        from django.db import connection

        sql = (
            "SELECT d.idempotency_key FROM notifications_emaildelivery d WHERE d.status = 'sending'"
        )
        params: list = []
        if process_ids is not None:
            sql += (
                " AND d.job_id IN (SELECT j.id::text FROM jobs_job j"
                " WHERE j.state = 'claimed' AND j.process_id = ANY(%s))"
            )
            params = [process_ids]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            keys = [row[0] for row in cursor.fetchall()]
        return {int(key.rsplit(":", 1)[1]) for key in keys}  # new_comment:<user>:<comment>

    @staticmethod
    def comment_of(raw: bytes) -> int:
        return int(COMMENT_ID.search(raw).group(1))


if __name__ == "__main__":
    sys.exit(main())
