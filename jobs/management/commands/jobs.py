"""`python manage.py jobs …`: the seed's console queries and solid_queue:start/stop, for ops.

Argument parsing and output; the reads are jobs.ops.selectors (shared with the dashboard and
/metrics), the writes the ledger's (jobs.ledger), a worker's start, quiet and stop
jobs.ops.worker_control.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from jobs.dispatcher import Dispatcher
from jobs.ledger import pauses, writes
from jobs.models import Job, JobQuerySet
from jobs.ops import selectors, worker_control

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

        retry = sub.add_parser("retry", help="re-enqueue one job, or every failed job (--all)")
        retry.add_argument("job_id", nargs="?")
        retry.add_argument("--all", action="store_true", help="every failed job")
        retry.add_argument("--class", dest="class_name", help="with --all: only this class")

        discard = sub.add_parser(
            "discard", help="discard one job, or every job in a state (--all; failed by default)"
        )
        discard.add_argument("job_id", nargs="?")
        discard.add_argument("--all", action="store_true", help="every job in --state")
        discard.add_argument("--class", dest="class_name", help="with --all: only this class")
        discard.add_argument("--queue", help="with --all: only this queue")
        discard.add_argument(
            "--state",
            help="with --all: " + ", ".join(writes.DISCARDABLE) + " (default failed)",
        )
        discard.add_argument("--reason", default="discarded by an operator")

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

        worker = sub.add_parser("worker", help="start, quiet or stop a Celery worker")
        worker_sub = worker.add_subparsers(
            dest="worker_action", required=True, metavar="start|quiet|stop"
        )
        start = worker_sub.add_parser("start", help="bin/rails solid_queue:start")
        start.add_argument("--queues", default=",".join(settings.JOB_QUEUES))
        start.add_argument("--concurrency", type=int, default=None)
        start.add_argument("--hostname", help="its node name, e.g. reports1@%%h (Celery's -n)")
        start.add_argument("--daemon", action="store_true", help="detach (needs --pidfile)")
        start.add_argument("--pidfile")
        start.add_argument(
            "--logfile", help=f"with --daemon, default {worker_control.LOG_DIR}/<pidfile name>.log"
        )
        start.add_argument(
            "--loglevel",
            choices=settings.LOG_LEVELS,
            type=str.upper,
            help="default: LOG_LEVEL",
        )
        quiet = worker_sub.add_parser(
            "quiet", help="a worker takes no new job; its running jobs finish (any host)"
        )
        quiet.add_argument("--hostname", required=True, help="its name, as `jobs processes` shows")
        quiet.add_argument(
            "--timeout", type=float, default=worker_control.REPLY_TIMEOUT, help="seconds to wait"
        )
        stop = worker_sub.add_parser(
            "stop", help="bin/rails solid_queue:stop (graceful: running jobs finish first)"
        )
        which = stop.add_mutually_exclusive_group(required=True)
        which.add_argument("--pidfile", help="the worker started with this pidfile (this host)")
        which.add_argument("--hostname", help="the worker of this name (any host)")
        stop.add_argument("--timeout", type=float, default=60, help="seconds to wait")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "worker":
            action = f"worker_{options['worker_action']}"
        getattr(self, f"do_{action}")(options)

    # --- inspection -------------------------------------------------------------------------
    def do_status(self, options: dict[str, Any]) -> None:
        by_state = selectors.state_counts()
        self.stdout.write("Jobs by state")
        for state, count in by_state.items():
            self.stdout.write(f"  {state:<10} {count:>10,}")
        self.stdout.write(f"  {'total':<10} {sum(by_state.values()):>10,}")

        by_class = selectors.counts_by_class_and_state()
        if by_class:
            columns = list(by_state)
            self.stdout.write("\nJobs by class")
            self.stdout.write(f"  {'class':<28}" + "".join(f"{c:>11}" for c in columns))
            for class_name in sorted(by_class):
                counts = by_class[class_name]
                self.stdout.write(
                    f"  {class_name:<28}" + "".join(f"{counts.get(c, 0):>11,}" for c in columns)
                )

        self.stdout.write("\nQueues")
        self.stdout.write(f"  {'queue':<16}{'ready':>10}{'latency':>12}  state")
        for queue in selectors.queue_snapshot():
            latency = "-" if queue.latency is None else f"{queue.latency:.1f}s"
            state = "paused" if queue.paused else "running"
            self.stdout.write(f"  {queue.name:<16}{queue.ready:>10,}{latency:>12}  {state}")
        self.stdout.write("")
        self.do_processes(options)

    def do_processes(self, options: dict[str, Any]) -> None:
        rows = selectors.process_snapshot()
        if not rows:
            self.stdout.write("No live processes: start a worker and the dispatcher.")
            return
        running = selectors.running_counts()
        self.stdout.write("Processes")
        self.stdout.write(
            f"  {'kind':<11}{'name':<34}{'pid':>8}{'heartbeat':>11}{'jobs':>6}  queues"
        )
        for row in rows:
            process, age = row.process, f"{row.age:.0f}s ago"
            queues = ",".join(process.queues) or "-"
            if process.quiet_since:
                queues = (
                    f"quiet since {timezone.localtime(process.quiet_since):%H:%M:%S} ({queues})"
                )
            self.stdout.write(
                f"  {process.kind:<11}{process.name[:33]:<34}{process.pid:>8}{age:>11}"
                f"{running.get(process.id, 0):>6}  {queues}"
            )

    def do_pause(self, options: dict[str, Any]) -> None:
        try:
            changed = pauses.pause(options["queue"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        note = "" if changed else " (it already was)"
        self.stdout.write(
            f"Paused {options['queue']}{note}: its jobs stay ready; `jobs resume "
            f"{options['queue']}` runs them."
        )

    def do_resume(self, options: dict[str, Any]) -> None:
        try:
            changed = pauses.resume(options["queue"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        note = "" if changed else " (it was not paused)"
        self.stdout.write(f"Resumed {options['queue']}{note}.")

    def do_failed(self, options: dict[str, Any]) -> None:
        jobs = selectors.failed_jobs(class_name=options["class_name"] or "")
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

    def do_show(self, options: dict[str, Any]) -> None:
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
        result = selectors.task_result(job)
        if result:
            fields.append(("result", f"{result.status} {result.result or ''}".strip()))
        if job.error_class:
            fields.append(("error", f"{job.error_class}: {job.error_message}"))
        for name, value in fields:
            self.stdout.write(f"{name + ':':<20}{value}")
        if job.error_traceback:
            self.stdout.write("\n" + job.error_traceback)
        self._show_runs(selectors.job_runs(job))

    def _show_runs(self, runs: selectors.JobRuns) -> None:
        """Every run, newest first (the dashboard's attempts table; tracebacks are there)."""
        shown = f", newest {runs.shown} shown" if runs.shown < runs.in_all else ""
        self.stdout.write(f"\nruns ({runs.in_all} in all{shown}, newest first):")
        if not runs.rows:
            self.stdout.write("  none has ended yet")
        for row in runs.rows:
            run = row.run
            started = f"{timezone.localtime(run.started_at):%Y-%m-%d %H:%M:%S}"
            took = "running now" if row.running else f"{run.outcome} after {run.duration:.3f}s"
            error = f"  {run.error_class}: {run.error_message}" if run.error_class else ""
            error = error.replace("\n", " ")[:200]
            self.stdout.write(
                f"  #{row.number:<4} attempt {run.attempt:<3} {started}  {took:<28} "
                f"waited {run.waited:.3f}s  {run.worker or '-'}{error}"
            )

    # --- actions ----------------------------------------------------------------------------
    def do_retry(self, options: dict[str, Any]) -> None:
        count = self._selection(options).retry()
        self.stdout.write(f"Re-enqueued {count:,} job{'s' if count != 1 else ''}.")

    def do_discard(self, options: dict[str, Any]) -> None:
        if options["job_id"] and (options["queue"] or options["state"]):
            raise CommandError(
                "--queue and --state choose jobs for --all: give a job id, or --all with them."
            )
        if options["all"] and not options["job_id"]:
            try:
                jobs = selectors.jobs_to_discard(
                    state=options["state"] or "failed",
                    class_name=options["class_name"] or "",
                    queue=options["queue"] or "",
                )
            except ValueError as error:
                raise CommandError(str(error)) from None
        else:
            jobs = self._selection(options)
        count = jobs.discard(reason=options["reason"])
        self.stdout.write(f"Discarded {count:,} job{'s' if count != 1 else ''}.")

    def do_prune(self, options: dict[str, Any]) -> None:
        match = DURATION.match(options["older_than"])
        if not match:
            raise CommandError("--older-than takes a number and a unit: 30m, 12h or 7d.")
        older_than = timedelta(**{UNITS[match[2]]: int(match[1])})
        jobs, results = writes.prune(older_than=older_than, batch_size=options["batch_size"])
        self.stdout.write(
            f"Pruned {jobs:,} jobs and {results:,} task results older than {options['older_than']}."
        )

    def do_dispatcher(self, options: dict[str, Any]) -> None:
        Dispatcher(
            interval=options["interval"],
            batch_size=options["batch_size"],
            heartbeat_file=options["heartbeat_file"],
        ).run()

    def do_worker_start(self, options: dict[str, Any]) -> None:
        if options["daemon"] and not options["pidfile"]:
            raise CommandError("--daemon needs --pidfile, so that `jobs worker stop` can find it.")
        logfile = options["logfile"]
        if options["daemon"] and not logfile:  # its stdout and stderr are /dev/null
            logfile = worker_control.default_logfile(options["pidfile"])
        try:
            command = worker_control.worker_command(
                queues=options["queues"],
                concurrency=options["concurrency"],
                pidfile=options["pidfile"],
                logfile=logfile,
                loglevel=options["loglevel"],
                hostname=options["hostname"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        if options["daemon"]:
            worker_control.start_detached(command)
            self.stdout.write(
                f"Worker started in the background; pid in {options['pidfile']}, logs in {logfile}."
            )
            return
        worker_control.run_in_this_process(command)

    def do_worker_quiet(self, options: dict[str, Any]) -> None:
        try:
            worker, changed = worker_control.quiet(
                hostname=options["hostname"], timeout=options["timeout"]
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        note = "" if changed else " (it already was)"
        self.stdout.write(
            f"Worker {worker.name} is quiet{note}: it takes no new job, its running jobs "
            f"finish. `jobs worker stop --hostname {worker.name}` stops it."
        )

    def do_worker_stop(self, options: dict[str, Any]) -> None:
        if options["hostname"]:
            self._stop_by_name(options["hostname"], timeout=options["timeout"])
            return
        try:
            pid = worker_control.stop(pidfile=Path(options["pidfile"]), timeout=options["timeout"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Worker {pid} stopped.")

    def _stop_by_name(self, hostname: str, *, timeout: float) -> None:
        try:
            worker_control.shutdown(hostname=hostname)
        except ValueError as error:
            raise CommandError(str(error)) from None
        if not worker_control.wait_gone(hostname=hostname, timeout=timeout):
            raise CommandError(
                f"Worker {hostname} still finishing its jobs after {timeout:.0f}s; it stops "
                "once they end (`jobs processes` shows when it is gone)."
            )
        self.stdout.write(f"Worker {hostname} stopped.")

    # --- helpers ----------------------------------------------------------------------------
    def _job(self, job_id: str) -> Job:
        job = selectors.get_job(job_id)
        if job is None:
            raise CommandError(f"No job {job_id!r}. `jobs failed` or `jobs status` list job ids.")
        return job

    def _selection(self, options: dict[str, Any]) -> JobQuerySet:
        if options["all"] == bool(options["job_id"]):
            raise CommandError("Give one job id, or --all (optionally with --class CLASS).")
        if options["job_id"]:
            return Job.objects.filter(pk=self._job(options["job_id"]).pk)
        return selectors.failed_jobs(class_name=options["class_name"] or "")
