"""The dashboard's charts and run-time percentiles: real percentiles from the runs
(jobs.JobAttempt), charts with axes, time labels, legend and time zone from the stats
(jobs.JobStat), and the per-queue page."""

import re
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from jobs.models import JobAttempt, JobStat
from jobs.ops import runs
from jobs.ops.charts import GREEN, RED, Series, bar_chart
from tests.forum.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, admin):
    client.force_login(admin)
    return client


def attempt(seconds: float, *, class_name="RecordJob", queue="default", ago=timedelta(minutes=5)):
    finished = timezone.now() - ago
    JobAttempt.objects.create(
        job_id=uuid.uuid4(),
        attempt=1,
        class_name=class_name,
        queue=queue,
        started_at=finished - timedelta(seconds=seconds),
        finished_at=finished,
        outcome="finished",
    )


def stat(ago: timedelta, *, queue="default", **counts) -> None:
    bucket = (timezone.now() - ago).replace(second=0, microsecond=0)
    JobStat.objects.create(bucket=bucket, queue=queue, class_name="RecordJob", **counts)


def test_percentiles_are_exact_per_class_and_per_queue_over_the_window():
    for seconds in range(1, 101):
        attempt(seconds)
    attempt(0.2, class_name="GatedJob", queue="search")
    attempt(500, ago=timedelta(hours=3))  # outside the last hour

    result = runs.run_times(window="1h")

    assert result["exact"] and result["basis"] == "exact, from 101 runs"
    record = next(r for r in result["by_class"] if r["name"] == "RecordJob")
    assert record["runs"] == 100
    assert record["p50"] == pytest.approx(50.5)  # percentile_cont interpolates
    assert record["p95"] == pytest.approx(95.05)
    assert record["p99"] == pytest.approx(99.01)
    assert (record["p50_text"], record["p95_text"]) == ("50.5 s", "95.05 s")
    assert [(r["name"], r["runs"]) for r in result["by_queue"]] == [("default", 100), ("search", 1)]
    assert next(r for r in result["by_queue"] if r["name"] == "search")["p99_text"] == "200 ms"
    assert runs.run_times(window="24h")["by_queue"][0]["runs"] == 101  # the older run counts
    search = runs.run_times(window="1h", queue="search")
    assert [(r["name"], r["runs"]) for r in search["by_class"]] == [("GatedJob", 1)]
    assert [(r["name"], r["p50"]) for r in search["by_queue"]] == [("search", pytest.approx(0.2))]


def test_percentiles_of_a_busy_window_come_from_a_sample_and_say_so():
    for seconds in range(1, 41):
        attempt(seconds)
    stat(timedelta(minutes=5), runs=40)

    result = runs.run_times(window="1h", target=20)

    assert not result["exact"]
    assert re.fullmatch(
        r"estimated from a sample of \d+ of about 40 runs \(as of \d\d:\d\d:\d\d, "
        r"sampled again every 30 s\)",
        result["basis"],
    )
    assert result["window_runs"] == 40 and result["runs"] <= 40
    # Kept for SAMPLE_TTL: the live refresh of every open tab does not sample again.
    for seconds in range(41, 61):
        attempt(seconds)
    stat(timedelta(minutes=5), runs=20)
    assert runs.run_times(window="1h", target=20) == result
    cache.clear()
    assert "of about 60 runs" in runs.run_times(window="1h", target=20)["basis"]


def test_the_overview_chart_has_axes_time_labels_a_legend_and_its_time_zone(staff_client):
    stat(timedelta(minutes=3), finished=12, failed=3)
    stat(timedelta(minutes=40), finished=5)
    page = staff_client.get(reverse("admin:jobs_dashboard")).content.decode()
    svg = re.search(r'<svg id="jobs-chart-ended" data-live.*?</svg>', page, re.S).group(0)
    assert "times in Africa/Lagos" in svg
    y_labels = re.findall(r'text-anchor="end">([\d,]+)</text>', svg)
    assert y_labels[0] == "0" and y_labels[-1] == "15"  # 0 and the peak
    times = re.findall(r'text-anchor="middle">(\d\d:\d\d)</text>', svg)
    assert len(times) >= 5 and all(t.endswith((":00", ":30")) for t in times)
    assert ">finished</text>" in svg and ">failed</text>" in svg
    assert f'fill="{GREEN}"' in svg and f'fill="{RED}"' in svg
    assert "17 finished, 3 failed" in page


def test_chart_labels_round_local_times_and_ticks_reach_the_peak(settings):
    settings.TIME_ZONE = "Africa/Lagos"
    with timezone.override(ZoneInfo("Africa/Lagos")):
        start = datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("UTC"))  # 10:00 in Lagos
        chart = bar_chart(
            chart_id="c",
            title="t",
            start=start,
            step=timedelta(hours=1),
            series=[Series("enqueued", GREEN, [float(i % 24) for i in range(168)])],
        )
    assert [t["label"] for t in chart["y_ticks"]] == ["0", "5", "10", "15", "23"]
    assert chart["x_ticks"][0]["label"] == "Wed 02 Dec"  # local midnights only
    assert len(chart["x_ticks"]) == 7
    assert chart["time_zone"] == "Africa/Lagos"


def test_the_queue_page_charts_enqueued_ended_and_latency_with_percentiles(staff_client):
    stat(timedelta(minutes=2), enqueued=5, finished=3, failed=1, runs=4, wait_sum=8, wait_max=5)
    stat(timedelta(minutes=2), queue="search", enqueued=100)
    attempt(2.0)
    url = reverse("admin:jobs_dashboard_queue_stats", args=["default"])
    page = staff_client.get(url).content.decode()
    for chart_id in ("jobs-queue-enqueued", "jobs-queue-ended", "jobs-queue-latency"):
        assert f'<svg id="{chart_id}" data-live' in page
    assert "<td>5</td><td>3</td><td>1</td><td>4</td><td>2 s</td><td>5 s</td>" in page
    assert 'id="jobs-queue-run-times-by-class" data-live' in page
    assert "exact, from 1 run" in page and "<td>2 s</td>" in page
    assert "times in Africa/Lagos" in page
    week = staff_client.get(url, {"window": "7d"}).content.decode()
    assert "One bar per hour" in week and "<strong>7d</strong>" in week
    bad = staff_client.get(url, {"window": "forever"})
    assert bad.status_code == 200 and "<strong>1h</strong>" in bad.content.decode()


def test_each_queue_row_of_the_overview_links_its_page_and_an_unknown_queue_is_a_404(
    staff_client, settings
):
    page = staff_client.get(reverse("admin:jobs_dashboard")).content.decode()
    for queue in settings.JOB_QUEUES:
        assert reverse("admin:jobs_dashboard_queue_stats", args=[queue]) in page
    missing = staff_client.get(reverse("admin:jobs_dashboard_queue_stats", args=["nope"]))
    assert missing.status_code == 404
    assert "No queue &#x27;nope&#x27;: the queues are high_priority, default" in (
        missing.content.decode()
    )


def test_the_overview_window_switch_picks_the_percentiles_window(staff_client):
    attempt(3, ago=timedelta(hours=5))
    url = reverse("admin:jobs_dashboard")
    assert "No run ended in this window." in staff_client.get(url).content.decode()
    day = staff_client.get(url, {"window": "24h"}).content.decode()
    assert "Over the last 24h: exact, from 1 run." in day
    assert staff_client.get(url, {"window": "x"}).status_code == 200


@pytest.mark.parametrize(
    ("role", "expected"), [("anonymous", 302), ("member", 302), ("moderator", 403), ("admin", 200)]
)
def test_the_queue_page_needs_the_view_permission(client, role, expected):
    if role == "member":
        client.force_login(UserFactory())
    elif role == "moderator":
        client.force_login(UserFactory(is_staff=True))
    elif role == "admin":
        client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(reverse("admin:jobs_dashboard_queue_stats", args=["default"]))
    assert response.status_code == expected
    if expected == 302:
        assert "/admin/login/" in response["Location"]
