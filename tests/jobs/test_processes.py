"""Processes heartbeat; the jobs of a dead one are re-run, once; a poison job ends failed."""

import os
import signal

import pytest

from jobs.models import Job, Process, State
from tests.jobs.helpers import wait_for, wait_for_state
from tests.jobs.sample_jobs import PoisonJob, RecordJob, SlowJob, runs, starts

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def forks_of(worker) -> list[Process]:
    return list(Process.objects.filter(kind=Process.Kind.FORK, supervisor_pid=worker.pid))


def test_workers_and_the_dispatcher_register_and_leave_on_a_graceful_stop(processes):
    worker = processes.worker(concurrency=2, queues="default,search")
    processes.dispatcher()
    wait_for(lambda: Process.objects.filter(kind="dispatcher").exists(), message="dispatcher row")
    main = Process.objects.get(kind=Process.Kind.WORKER, pid=worker.pid)
    assert main.name == worker.hostname
    assert main.queues == ["default", "search"]
    wait_for(lambda: len(forks_of(worker)) == 2, message="two pool processes registered")

    beat = Process.objects.get(pk=main.pk).last_heartbeat_at
    wait_for(lambda: Process.objects.get(pk=main.pk).last_heartbeat_at > beat, message="beat")

    worker.terminate()
    worker.wait(timeout=30)
    assert not Process.objects.filter(pid=worker.pid).exists()
    assert forks_of(worker) == []


def test_a_job_whose_pool_process_is_killed_runs_again_and_finishes_once(processes):
    worker = processes.worker(concurrency=1)
    processes.dispatcher()
    job_id = SlowJob.delay("child", 2).id
    job = wait_for_state(job_id, State.CLAIMED)
    wait_for(lambda: starts("child") == 1, message="first run started")
    fork = Process.objects.get(pk=job.process_id)
    assert fork.kind == Process.Kind.FORK and fork.supervisor_pid == worker.pid

    os.kill(fork.pid, signal.SIGKILL)

    job = wait_for_state(job_id, State.FINISHED, timeout=40)
    assert job.attempts == 2
    assert starts("child") == 2
    assert runs("child") == 1  # the killed run never finished: one finish in all


def test_a_job_whose_whole_worker_dies_is_recovered_by_another_worker(processes):
    doomed = processes.worker(concurrency=1)
    processes.dispatcher()
    job_id = SlowJob.delay("crash", 2).id
    job = wait_for_state(job_id, State.CLAIMED)
    fork = Process.objects.get(pk=job.process_id)

    os.kill(doomed.pid, signal.SIGKILL)  # the machine lost the worker: main process and pool
    os.kill(fork.pid, signal.SIGKILL)
    processes.worker(concurrency=1)

    job = wait_for_state(job_id, State.FINISHED, timeout=40)
    assert job.attempts == 2
    assert runs("crash") == 1
    assert not Process.objects.filter(pid__in=[doomed.pid, fork.pid]).exists()


def test_a_poison_job_fails_after_its_attempts_and_the_worker_keeps_serving(processes):
    processes.worker(concurrency=1)
    processes.dispatcher()
    poison = PoisonJob.delay("poison").id

    job = wait_for_state(poison, State.FAILED, timeout=60)
    assert job.attempts == PoisonJob.max_attempts == 3
    assert runs("poison") == 3
    assert job.error_class == "WorkerLostError"
    assert "worker process died" in job.error_message

    healthy = RecordJob.delay("after-poison").id
    assert wait_for_state(healthy, State.FINISHED).attempts == 1


def test_a_graceful_stop_loses_no_job_in_flight_or_prefetched(processes):
    worker = processes.worker(concurrency=2)
    processes.dispatcher()
    ids = [SlowJob.delay(f"graceful-{i}", 1).id for i in range(6)]
    wait_for(lambda: Job.objects.claimed().count() == 2, message="two jobs running")

    worker.terminate()  # warm shutdown: running jobs finish, prefetched ones go back
    worker.wait(timeout=30)
    processes.worker(concurrency=2)

    for job_id in ids:
        wait_for_state(job_id, State.FINISHED, timeout=40)
    assert [runs(f"graceful-{i}") for i in range(6)] == [1] * 6
    assert Job.objects.filter(pk__in=ids, attempts=1).count() == 6


def test_a_worker_heartbeats_while_its_redis_does_not_answer(processes, private_redis):
    """Redis stopped (a host cut off before Sentinel promotes the replica: connections hang,
    nothing answers): the worker's pause check waits on the broker, its heartbeat does not,
    so the worker is never taken for dead while PostgreSQL is fine."""
    import time

    from django.utils import timezone

    from tests.conftest import FAST_RECOVERY

    worker = processes.worker(env=private_redis.env)
    main = Process.objects.get(kind=Process.Kind.WORKER, pid=worker.pid)
    threshold = float(FAST_RECOVERY["JOBS_PROCESS_ALIVE_THRESHOLD"])  # the worker's
    oldest = 0.0
    os.kill(private_redis.proc.pid, signal.SIGSTOP)
    try:
        end = time.monotonic() + 4 * threshold
        while time.monotonic() < end:
            beat = Process.objects.get(pk=main.pk).last_heartbeat_at
            oldest = max(oldest, (timezone.now() - beat).total_seconds())
            time.sleep(0.2)
    finally:
        os.kill(private_redis.proc.pid, signal.SIGCONT)
    # Every interval (0.5 s; seen up to 1.4 s old), not held back by each 2 s socket timeout
    # of the broker (2.5 s old) — or, through a cut host's Sentinel, by its connects (30 s).
    assert oldest < 2.0, f"heartbeat {oldest:.1f} s old (dead after {threshold} s)"
    assert "process.supervise failed" in worker.log_path.read_text()  # it did wait on Redis
