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
cut there). Each kill is followed by a look, 1 s later (no re-run comes before the 5 s
threshold), at the delivery rows that were `sending` at the kill and still are: a cut job;
it was cut between send and mark when its email is already at the server.

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
        self.cut_after_send: set[int] = set()  # comment ids
        self.cut_before_send: set[int] = set()

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
            ("emails_cut_between_send_and_mark", len(self.cut_after_send), "emails"),
            ("emails_cut_before_send", len(self.cut_before_send), "emails"),
            ("jobs_finished", finished, "jobs"),
            ("jobs_failed", failed, "jobs"),
            ("jobs_lost", len(comments) - finished - failed - by_state.get("discarded", 0), "jobs"),
            ("kills_pool_process", kills["fork"], "kills"),
            ("kills_whole_worker", kills["worker"], "kills"),
            ("drain_time", f"{elapsed:.1f}", "s"),
        ]

    def look_at_cut_emails(self, kind: str) -> None:
        """After a kill: the delivery rows `sending` now and still `sending` 1 s later were
        held by the killed process (a live one marks its row within milliseconds; the
        killed job is not re-run before the 5 s threshold)."""
        if kind == "none":
            return
        before = self.sending()
        time.sleep(1)
        cut = before & self.sending()  # and rows an earlier kill cut, not re-run yet
        at_server = {self.comment_of(raw) for _, raw in list(self.sink.received)}
        after, before_send = cut & at_server, cut - at_server
        new = len(after - self.cut_after_send), len(before_send - self.cut_before_send)
        self.cut_after_send |= after
        self.cut_before_send |= before_send
        if any(new):
            log(f"  cut: {new[0]} between send and mark, {new[1]} before the send")

    @staticmethod
    def sending() -> set[int]:
        from notifications.models import DeliveryStatus, EmailDelivery

        keys = EmailDelivery.objects.filter(status=DeliveryStatus.SENDING).values_list(
            "idempotency_key", flat=True
        )
        return {int(key.rsplit(":", 1)[1]) for key in keys}  # new_comment:<user>:<comment>

    @staticmethod
    def comment_of(raw: bytes) -> int:
        return int(COMMENT_ID.search(raw).group(1))


if __name__ == "__main__":
    sys.exit(main())
