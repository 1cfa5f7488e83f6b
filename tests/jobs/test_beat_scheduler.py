"""Celery beat with jobs.scheduler: one beat at a time, and beat through a database outage."""

import time
from datetime import datetime, timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.jobs.helpers import wait_for
from tests.jobs.sample_jobs import runs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.worker
def test_a_second_beat_stands_by_and_periodic_jobs_do_not_double_fire(processes):
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="record every second", task="RecordJob", args='["beat"]', interval=every_second
    )
    processes.worker()
    beat = ["-m", "celery", "-A", "config", "beat", "--loglevel", "INFO", "-s"]
    beats = [processes.start([*beat, str(processes.tmp_path / f"beat{i}")]) for i in range(2)]
    wait_for(lambda: runs("beat") >= 1, timeout=60, message="first periodic run")

    def sent() -> int:  # what the beats sent, not what the worker has run yet
        return sum(processes.log(beat).count("Sending due task") for beat in beats)

    before, first = sent(), time.monotonic()
    time.sleep(6)
    count, elapsed = sent() - before, time.monotonic() - first
    assert count <= elapsed + 2  # one beat sending: about one a second, not two

    logs = [processes.log(beat) for beat in beats]
    assert sum("beat.leader" in log for log in logs) == 1
    assert sum("beat.standby" in log for log in logs) == 1


@pytest.mark.worker
def test_beat_rides_out_a_database_outage(processes):
    """PostgreSQL unreachable for a few seconds (its restart, a failover): beat keeps running
    and sends again once the database is back, with no process manager to restart it."""
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="record through an outage", task="RecordJob", args='["outage"]', interval=every_second
    )
    processes.worker()
    beat = processes.start(
        [
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "--loglevel",
            "INFO",
            "-s",
            str(processes.tmp_path / "beat"),
        ]
    )
    wait_for(lambda: runs("outage") >= 1, timeout=60, message="first periodic run")
    database = connection.settings_dict["NAME"]
    server = {  # the same server, the embedded one's socket included, another database
        key: value
        for key, value in connection.get_connection_params().items()
        if key in ("host", "port", "user", "password")
    }
    admin = psycopg.connect(**server, dbname="postgres", autocommit=True)
    with admin:  # as a restart would: every session cut, no new one let in
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            [database],
        )
        try:
            wait_for(
                lambda: processes.log(beat).count("beat.database_unavailable") >= 3,
                timeout=30,
                message="beat ticking through the outage",
            )
        finally:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
            connection.close()  # this test's session was cut too
    before = runs("outage")
    wait_for(lambda: runs("outage") >= before + 2, timeout=30, message="runs after the outage")
    assert beat.poll() is None, processes.log(beat)


def test_a_standby_that_takes_over_neither_doubles_nor_skips_a_run(processes):
    """The leader SIGKILLed right after a send: the standby, started with it (its copy of the
    schedule as old as its start), sends the next run one interval after the leader's last
    one — not at once (a double), not an interval late (a skip)."""
    from jobs.models import Job

    every = 6
    interval = IntervalSchedule.objects.create(every=every, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(  # a job beat knows (it does not import tests' jobs)
        name="prune across a takeover",
        task="PruneJobsJob",
        kwargs='{"older_than_days": 36500}',
        interval=interval,
    )
    sends = Job.objects.filter(class_name="PruneJobsJob").order_by("created_at")
    beat = ["-m", "celery", "-A", "config", "beat", "--loglevel", "INFO", "-s"]
    beats = [processes.start([*beat, str(processes.tmp_path / f"beat{i}")]) for i in range(2)]
    wait_for(lambda: sends.count() >= 3, timeout=60, message="three runs from the leader")
    (leader,) = (b for b in beats if "beat.leader" in b.log_path.read_text())
    (standby,) = (b for b in beats if b is not leader)

    # What the database says after a send is what was sent, without waiting for a sync.
    last = sends.last()
    task.refresh_from_db()
    assert task.total_run_count == sends.count()
    assert abs((task.last_run_at - last.created_at).total_seconds()) < 2

    count = sends.count()
    wait_for(lambda: sends.count() > count, timeout=every + 5, message="a fresh send")
    leader.kill()  # right after its send: the standby takes over within seconds
    leader.wait()
    wait_for(lambda: sends.count() >= count + 3, timeout=4 * every, message="the standby's runs")
    assert "beat.leader" in standby.log_path.read_text()

    times = [job.created_at for job in sends]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert all(every * 0.8 <= gap <= every * 1.5 for gap in gaps), gaps


def _hourly_prune_due(name: str) -> tuple[PeriodicTask, datetime]:
    """An hourly PruneJobsJob entry (a job beat knows; nothing to prune) last run two hours
    ago: due. Returns it and that last run."""
    hourly = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    long_ago = timezone.now() - timedelta(hours=2)
    task = PeriodicTask.objects.create(
        name=name,
        task="PruneJobsJob",
        kwargs='{"older_than_days": 36500}',
        interval=hourly,
        last_run_at=long_ago,
    )
    return task, long_ago


def test_a_send_that_meets_a_database_error_leaves_the_run_due(monkeypatch):
    """The ledger refused the run (PostgreSQL away mid-send): neither the job nor the entry's
    advanced last_run_at is written — not by the send, not by a later sync — and the run is
    still due when the schedule is read again. A send that works writes both at once."""
    import django.db

    import jobs.tasks  # noqa: F401 (beat imports every app's tasks at start)
    from config.celery import app
    from jobs.models import Job
    from jobs.worker.beat_scheduler import LockedDatabaseScheduler

    task, long_ago = _hourly_prune_due("prune, due")
    scheduler = LockedDatabaseScheduler(app=app, lazy=True)
    scheduler._read_schedule()
    entry = scheduler.schedule[task.name]
    assert entry.is_due().is_due

    def refused(*_args, **_kwargs):
        raise django.db.OperationalError("the ledger is away")

    with monkeypatch.context() as patch:
        patch.setattr(scheduler, "apply_async", refused)
        scheduler.reserve(entry)  # as Celery's tick does before apply_entry
        with pytest.raises(django.db.OperationalError):
            scheduler.apply_entry(entry)
    scheduler._read_schedule()  # what tick does next (it syncs first)
    task.refresh_from_db()
    assert (task.last_run_at, task.total_run_count) == (long_ago, 0)
    entry = scheduler.schedule[task.name]
    assert entry.is_due().is_due

    scheduler.reserve(entry)
    scheduler.apply_entry(entry)
    task.refresh_from_db()
    assert task.total_run_count == 1 and task.last_run_at > long_ago
    assert Job.objects.filter(class_name="PruneJobsJob").count() == 1


def test_two_beats_with_the_same_copy_of_the_schedule_send_a_run_once(caplog):
    """Two schedulers that both act as leader, each with the schedule as read before either
    sent (a copy gone stale, a second beat wrongly believing it leads): the run is sent once.
    The second send finds the run's jobs.PeriodicRun row taken, sends nothing, writes nothing
    and reads the schedule again, where the run is no longer due. The next run is sent."""
    import jobs.tasks  # noqa: F401 (beat imports every app's tasks at start)
    from config.celery import app
    from jobs.models import Job, PeriodicRun
    from jobs.worker.beat_scheduler import LockedDatabaseScheduler

    task, long_ago = _hourly_prune_due("prune, due for both")
    sends = Job.objects.filter(class_name="PruneJobsJob")
    first, second = (LockedDatabaseScheduler(app=app, lazy=True) for _ in range(2))
    entries = []
    for scheduler in (first, second):
        scheduler._read_schedule()
        entries.append(scheduler.schedule[task.name])  # each one's copy, read before a send
    for scheduler, entry in zip((first, second), entries, strict=True):
        assert entry.is_due().is_due
        scheduler.reserve(entry)  # as Celery's tick does before apply_entry
        scheduler.apply_entry(entry)

    assert sends.count() == 1
    task.refresh_from_db()
    sent_at = task.last_run_at
    assert task.total_run_count == 1 and sent_at > long_ago
    assert "beat.run_already_sent task=prune, due for both" in caplog.text
    assert list(PeriodicRun.objects.values_list("task", "after")) == [(task.name, long_ago)]
    second.tick()  # reads the schedule again: the run it did not send is not due any more
    assert not second.schedule[task.name].is_due().is_due
    task.refresh_from_db()
    assert (task.last_run_at, task.total_run_count) == (sent_at, 1)

    # An hour later (as the database says), the next run is another row: sent.
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=sent_at - timedelta(hours=1))
    second._read_schedule()
    entry = second.schedule[task.name]
    second.reserve(entry)
    second.apply_entry(entry)
    assert sends.count() == 2
