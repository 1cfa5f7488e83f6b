"""/metrics: the ledger's figures for Prometheus behind a bearer token, and the alert rules
and scrape config that read them."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families

from jobs.models import Job, State
from tests.jobs.helpers import wait_for_state
from tests.jobs.sample_jobs import GatedJob, RecordJob

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
