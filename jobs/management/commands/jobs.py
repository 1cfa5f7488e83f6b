"""`python manage.py jobs …`: the seed's console queries and solid_queue:start/stop, for ops."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count
from django.utils import timezone
from django_celery_results.models import TaskResult

from jobs.dispatcher import Dispatcher
from jobs.ledger import pauses, writes
from jobs.models import Job, Process, State

DURATION = re.compile(r"^(\d+)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class Command(BaseCommand):
    help = "Inspect and operate background jobs (status, failed, show, retry, discard, prune, …)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser("status", help="job counts by state, by class and by queue")

        failed = sub.add_parser("failed", help="list failed jobs")
        failed.add_argument("--class", dest="class_name")
        failed.add_argument("--limit", type=int, default=50)

        show = sub.add_parser("show", help="everything about one job")
        show.add_argument("job_id")

        for name, verb in (("retry", "re-enqueue"), ("discard", "discard")):
            action = sub.add_parser(name, help=f"{verb} one job, or every failed job (--all)")
            action.add_argument("job_id", nargs="?")
            action.add_argument("--all", action="store_true", help="every failed job")
            action.add_argument("--class", dest="class_name", help="with --all: only this class")
            if name == "discard":
                action.add_argument("--reason", default="discarded by an operator")

        for name, verb in (("pause", "stop starting"), ("resume", "start running again")):
            action = sub.add_parser(name, help=f"{verb} a queue's jobs (persisted, all workers)")
            action.add_argument("queue", help=", ".join(settings.JOB_QUEUES))

        sub.add_parser("processes", help="live workers, pool processes, dispatchers and beat")

        prune = sub.add_parser("prune", help="delete finished jobs and results older than …")
        prune.add_argument("--older-than", default="7d", help="e.g. 7d, 12h, 30m (default 7d)")
        prune.add_argument("--batch-size", type=int, default=1000)

        dispatcher = sub.add_parser("dispatcher", help="run the dispatcher (foreground)")
        dispatcher.add_argument("--interval", type=float, default=0.5, help="seconds between polls")
        dispatcher.add_argument("--batch-size", type=int, default=500)
        dispatcher.add_argument(
            "--heartbeat-file", type=Path, help="touched on every pass (for health checks)"
        )

        worker = sub.add_parser("worker", help="start or stop a Celery worker")
        worker_sub = worker.add_subparsers(
            dest="worker_action", required=True, metavar="start|stop"
        )
        start = worker_sub.add_parser("start", help="bin/rails solid_queue:start")
        start.add_argument("--queues", default=",".join(settings.JOB_QUEUES))
        start.add_argument("--concurrency", type=int, default=None)
        start.add_argument("--daemon", action="store_true", help="detach (needs --pidfile)")
        start.add_argument("--pidfile")
        start.add_argument("--logfile")
        start.add_argument("--loglevel", default="INFO")
        stop = worker_sub.add_parser("stop", help="bin/rails solid_queue:stop (graceful)")
        stop.add_argument("--pidfile", required=True)
        stop.add_argument("--timeout", type=float, default=60, help="seconds to wait")

    def handle(self, *args, **options) -> None:
        action = options["action"]
        if action == "worker":
            action = f"worker_{options['worker_action']}"
        getattr(self, f"do_{action}")(options)

    # --- inspection -------------------------------------------------------------------------
    def do_status(self, options: dict) -> None:
        by_state = Job.objects.counts_by_state()
        self.stdout.write("Jobs by state")
        for state in State:
            self.stdout.write(f"  {state.value:<10} {by_state.get(state.value, 0):>10,}")
        self.stdout.write(f"  {'total':<10} {sum(by_state.values()):>10,}")

        rows = Job.objects.order_by().values_list("class_name", "state").annotate(n=Count("id"))
        by_class: dict[str, dict[str, int]] = {}
        for class_name, state, count in rows:
            by_class.setdefault(class_name, {})[state] = count
        if by_class:
            columns = [s.value for s in State]
            self.stdout.write("\nJobs by class")
            self.stdout.write(f"  {'class':<28}" + "".join(f"{c:>11}" for c in columns))
            for class_name in sorted(by_class):
                counts = by_class[class_name]
                self.stdout.write(
                    f"  {class_name:<28}" + "".join(f"{counts.get(c, 0):>11,}" for c in columns)
                )

        self.stdout.write("\nQueues")
        self.stdout.write(f"  {'queue':<16}{'ready':>10}{'latency':>12}  state")
        paused = pauses.paused_queues()
        now = timezone.now()
        ready = Job.objects.ready_by_queue()
        for queue in settings.JOB_QUEUES:
            count, oldest = ready.get(queue, (0, None))
            latency = f"{(now - oldest).total_seconds():.1f}s" if oldest else "-"
            state = "paused" if queue in paused else "running"
            self.stdout.write(f"  {queue:<16}{count:>10,}{latency:>12}  {state}")
        self.stdout.write("")
        self.do_processes(options)

    def do_processes(self, options: dict) -> None:
        rows = Process.objects.order_by("kind", "hostname", "pid")
        if not rows:
            self.stdout.write("No live processes: start a worker and the dispatcher.")
            return
        now = timezone.now()
        running = dict(
            Job.objects.claimed().order_by().values_list("process_id").annotate(Count("id"))
        )
        self.stdout.write("Processes")
        self.stdout.write(
            f"  {'kind':<11}{'name':<34}{'pid':>8}{'heartbeat':>11}{'jobs':>6}  queues"
        )
        for row in rows:
            age = f"{(now - row.last_heartbeat_at).total_seconds():.0f}s ago"
            self.stdout.write(
                f"  {row.kind:<11}{row.name[:33]:<34}{row.pid:>8}{age:>11}"
                f"{running.get(row.id, 0):>6}  {','.join(row.queues) or '-'}"
            )

    def do_pause(self, options: dict) -> None:
        try:
            changed = pauses.pause(options["queue"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        note = "" if changed else " (it already was)"
        self.stdout.write(
            f"Paused {options['queue']}{note}: its jobs stay ready; `jobs resume "
            f"{options['queue']}` runs them."
        )

    def do_resume(self, options: dict) -> None:
        try:
            changed = pauses.resume(options["queue"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        note = "" if changed else " (it was not paused)"
        self.stdout.write(f"Resumed {options['queue']}{note}.")

    def do_failed(self, options: dict) -> None:
        jobs = Job.objects.failed().order_by("-finished_at")
        if options["class_name"]:
            jobs = jobs.filter(class_name=options["class_name"])
        total = jobs.count()
        if not total:
            self.stdout.write("No failed jobs.")
            return
        self.stdout.write(f"{'id':<37}{'class':<26}{'tries':>5}  {'failed at':<20} error")
        for job in jobs[: options["limit"]]:
            failed_at = timezone.localtime(job.finished_at).strftime("%Y-%m-%d %H:%M:%S")
            error = f"{job.error_class}: {job.error_message}".replace("\n", " ")[:80]
            self.stdout.write(
                f"{job.id!s:<37}{job.class_name:<26}{job.attempts:>5}  {failed_at:<20} {error}"
            )
        if total > options["limit"]:
            self.stdout.write(f"… and {total - options['limit']:,} more (use --limit).")

    def do_show(self, options: dict) -> None:
        job = self._job(options["job_id"])
        local = timezone.localtime
        fields = [
            ("id", job.id),
            ("class", job.class_name),
            ("state", job.state),
            ("queue", job.queue),
            ("priority", job.priority),
            ("arguments", job.args),
            ("keyword arguments", job.kwargs),
            ("attempts", f"{job.attempts} of {job.max_attempts}"),
            ("worker", job.worker or "-"),
            ("created", local(job.created_at)),
            ("scheduled for", local(job.scheduled_at)),
            ("published", local(job.published_at) if job.published_at else "-"),
            ("claimed", local(job.claimed_at) if job.claimed_at else "-"),
            ("finished", local(job.finished_at) if job.finished_at else "-"),
        ]
        result = TaskResult.objects.filter(task_id=str(job.id)).first()
        if result:
            fields.append(("result", f"{result.status} {result.result or ''}".strip()))
        if job.error_class:
            fields.append(("error", f"{job.error_class}: {job.error_message}"))
        for name, value in fields:
            self.stdout.write(f"{name + ':':<20}{value}")
        if job.error_traceback:
            self.stdout.write("\n" + job.error_traceback)

    # --- actions ----------------------------------------------------------------------------
    def do_retry(self, options: dict) -> None:
        jobs = self._selection(options)
        count = jobs.retry()
        self.stdout.write(f"Re-enqueued {count:,} job{'s' if count != 1 else ''}.")

    def do_discard(self, options: dict) -> None:
        jobs = self._selection(options)
        count = jobs.discard(reason=options["reason"])
        self.stdout.write(f"Discarded {count:,} job{'s' if count != 1 else ''}.")

    def do_prune(self, options: dict) -> None:
        match = DURATION.match(options["older_than"])
        if not match:
            raise CommandError("--older-than takes a number and a unit: 30m, 12h or 7d.")
        older_than = timedelta(**{UNITS[match[2]]: int(match[1])})
        jobs, results = writes.prune(older_than=older_than, batch_size=options["batch_size"])
        self.stdout.write(
            f"Pruned {jobs:,} jobs and {results:,} task results older than {options['older_than']}."
        )

    def do_dispatcher(self, options: dict) -> None:
        Dispatcher(
            interval=options["interval"],
            batch_size=options["batch_size"],
            heartbeat_file=options["heartbeat_file"],
        ).run()

    def do_worker_start(self, options: dict) -> None:
        unknown = set(options["queues"].split(",")) - set(settings.JOB_QUEUES)
        if unknown:
            known = ", ".join(settings.JOB_QUEUES)
            raise CommandError(f"Unknown queue(s) {', '.join(sorted(unknown))}: use {known}.")
        if options["daemon"] and not options["pidfile"]:
            raise CommandError("--daemon needs --pidfile, so that `jobs worker stop` can find it.")
        command = [sys.executable, "-m", "celery", "-A", "config", "worker",
                   "--queues", options["queues"], "--loglevel", options["loglevel"]]  # fmt: skip
        if options["concurrency"]:
            command += ["--concurrency", str(options["concurrency"])]
        if options["pidfile"]:
            command += ["--pidfile", str(Path(options["pidfile"]).resolve())]
        if options["logfile"]:
            command += ["--logfile", str(Path(options["logfile"]).resolve())]
        if options["daemon"]:
            command.append("--detach")
            subprocess.run(command, check=True, cwd=settings.BASE_DIR)
            self.stdout.write(f"Worker started in the background; pid in {options['pidfile']}.")
            return
        os.chdir(settings.BASE_DIR)
        os.execv(sys.executable, command)  # the worker takes over this process

    def do_worker_stop(self, options: dict) -> None:
        pidfile = Path(options["pidfile"])
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            raise CommandError(f"No worker pid in {pidfile}: is the worker running?") from None
        try:
            os.kill(pid, signal.SIGTERM)  # warm shutdown: running jobs finish first
        except ProcessLookupError:
            pidfile.unlink(missing_ok=True)
            raise CommandError(f"No process {pid}: removed the stale pidfile {pidfile}.") from None
        deadline = time.monotonic() + options["timeout"]
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                self.stdout.write(f"Worker {pid} stopped.")
                return
            time.sleep(0.2)
        raise CommandError(
            f"Worker {pid} still finishing its jobs after {options['timeout']:.0f}s; "
            "wait, or run again with a longer --timeout."
        )

    # --- helpers ----------------------------------------------------------------------------
    def _job(self, job_id: str) -> Job:
        try:
            return Job.objects.get(pk=uuid.UUID(job_id))
        except (ValueError, Job.DoesNotExist):
            raise CommandError(
                f"No job {job_id!r}. `jobs failed` or `jobs status` list job ids."
            ) from None

    def _selection(self, options: dict):
        if options["all"] == bool(options["job_id"]):
            raise CommandError("Give one job id, or --all (optionally with --class CLASS).")
        if options["job_id"]:
            return Job.objects.filter(pk=self._job(options["job_id"]).pk)
        jobs = Job.objects.failed()
        if options["class_name"]:
            jobs = jobs.filter(class_name=options["class_name"])
        return jobs
