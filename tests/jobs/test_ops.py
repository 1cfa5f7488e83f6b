"""Operating the job system: /readyz, /metrics, alert rules, and one beat at a time."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from prometheus_client.parser import text_string_to_metric_families

from devtools.embedded import free_port
from jobs.models import Job, State
from tests.jobs.helpers import wait_for, wait_for_state
from tests.jobs.sample_jobs import GatedJob, RecordJob, runs

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def scrape(client, token="s3cret") -> dict:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_metrics_need_the_bearer_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 403
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer guess"})
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.worker
def test_metrics_match_the_ledger_and_survive_pruning(client, settings, celery_worker):
    settings.METRICS_TOKEN = "s3cret"
    done = [RecordJob.delay(f"m{i}").id for i in range(3)]
    failed = GatedJob.delay("m-fail", 1).id
    for job_id in done:
        wait_for_state(job_id, State.FINISHED)
    wait_for_state(failed, State.FAILED)
    call_command("jobs", "pause", "reports")
    RecordJob.apply_async(["waiting"], queue="reports")

    samples = scrape(client)
    record = {"job_class": "RecordJob", "queue": "default"}
    assert value(samples, "naija_jobs_enqueued_total", **record) == 3
    assert value(samples, "naija_jobs_finished_total", **record) == 3
    assert value(samples, "naija_jobs_failed_total", job_class="GatedJob", queue="default") == 1
    assert value(samples, "naija_job_duration_seconds_count", job_class="RecordJob") == 3
    assert (
        value(samples, "naija_job_duration_seconds_bucket", job_class="RecordJob", le="+Inf") == 3
    )
    assert value(samples, "naija_jobs_queue_depth", queue="reports") == 1
    assert value(samples, "naija_jobs_queue_paused", queue="reports") == 1
    assert value(samples, "naija_jobs_live_processes", kind="worker") == 1

    Job.objects.finished().update(finished_at="2000-01-01T00:00:00Z")
    call_command("jobs", "prune", "--older-than", "1d")
    assert not Job.objects.finished().exists()
    after = scrape(client)
    assert value(after, "naija_jobs_finished_total", **record) == 3  # never goes down
    assert value(after, "naija_jobs_enqueued_total", **record) == 3


def test_readyz_names_the_check_that_fails_and_recovers(client, private_redis, settings):
    body = client.get("/readyz").json()
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    assert not body["checks"]["worker"]["ok"]  # no worker yet
    assert "no worker" in body["checks"]["worker"]["detail"]

    from jobs.worker import processes

    processes.register(kind="worker", name="probe@test", queues=["default"])
    assert client.get("/readyz").status_code == 200

    private_redis.stop()
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["checks"]["redis"]["ok"] is False
    private_redis.start()
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").status_code == 200


def assert_names_the_check_but_not_where_it_points(response, check: str, port: int) -> None:
    body = response.content.decode()
    assert response.status_code == 503
    assert response.json()["checks"][check] == {
        "ok": False,
        "detail": "unreachable (the server log has the error)",
        "ms": response.json()["checks"][check]["ms"],
    }
    for address in ("127.0.0.1", "localhost", str(port), "Error 111", "Connection refused"):
        assert address not in body


def test_readyz_with_redis_down_says_so_without_its_address(
    client, private_redis, settings, caplog
):
    private_redis.stop()
    with caplog.at_level("WARNING", logger="jobs.readyz"):
        response = client.get("/readyz")
    assert_names_the_check_but_not_where_it_points(response, "redis", private_redis.port)
    assert response.json()["checks"]["database"]["ok"]
    assert f"127.0.0.1:{private_redis.port}" in caplog.text  # the operator's copy has it all


def test_readyz_with_postgres_down_says_so_without_its_address(client, caplog):
    closed_port = free_port()
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = closed_port
    try:
        with caplog.at_level("WARNING", logger="jobs.readyz"):
            response = client.get("/readyz")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port
    assert_names_the_check_but_not_where_it_points(response, "database", closed_port)
    assert response.json()["checks"]["redis"]["ok"]
    assert f"port {closed_port}" in caplog.text


def test_alert_rules_and_scrape_config_are_valid(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing in CI: .ci/run installs Debian's prometheus package")
        pytest.skip("PROMTOOL NOT INSTALLED: apt-get install prometheus to check the alert rules")
    rules = subprocess.run(
        [promtool, "check", "rules", ROOT / "deploy/prometheus/alerts.yml"],
        capture_output=True,
        text=True,
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 8 rules found" in rules.stdout
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(ROOT / "deploy/prometheus" / name, tmp_path / name)
    (tmp_path / "metrics_token").write_text("s3cret")
    (tmp_path / "flower_password").write_text("pw")
    config = subprocess.run(
        [promtool, "check", "config", tmp_path / "prometheus.yml"], capture_output=True, text=True
    )
    assert config.returncode == 0, config.stdout + config.stderr


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


def test_a_threshold_too_close_to_the_heartbeat_interval_is_refused_at_start():
    import sys

    env = {**os.environ, "JOBS_HEARTBEAT_INTERVAL": "5", "JOBS_PROCESS_ALIVE_THRESHOLD": "10"}
    check = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert check.returncode != 0
    assert "JOBS_PROCESS_ALIVE_THRESHOLD must be at least 3 × JOBS_HEARTBEAT_INTERVAL" in (
        check.stderr
    )
