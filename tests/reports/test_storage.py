"""FILE_STORAGE=database (issue 22): report files in PostgreSQL, so a web process on one host
serves what the reports worker wrote on another, with no shared folder."""

import csv
import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from reports.models import Report, Status, StoredFile
from reports.services import expire_reports, request_report
from reports.storage import DatabaseStorage
from tests.reports.test_tasks import RANGE, wait_for_report

DATABASE = {"BACKEND": "reports.storage.DatabaseStorage"}


@pytest.fixture
def database_storage(settings):
    settings.STORAGES = {**settings.STORAGES, "default": DATABASE}
    assert isinstance(default_storage, DatabaseStorage)  # Django resets it on the change
    return default_storage


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_report_a_worker_wrote_on_another_host_downloads_from_a_web_process_without_its_files(
    database_storage, processes, forum, settings, tmp_path, client
):
    worker_host, web_host = tmp_path / "worker-host-media", tmp_path / "web-host-media"
    settings.MEDIA_ROOT = web_host
    processes.worker(
        queues="reports", env={"MEDIA_ROOT": str(worker_host), "FILE_STORAGE": "database"}
    )
    report = request_report(requester=forum.ada, report_type="user_activity", parameters=RANGE)

    wait_for_report(report, Status.READY, Status.FAILED)
    assert report.status == Status.READY, report.error
    # Neither host has a file on disk: both files are rows every host reaches.
    assert not list(worker_host.rglob("*.*")) and not list(web_host.rglob("*.*"))
    assert set(StoredFile.objects.values_list("name", flat=True)) == {
        report.csv_file.name,
        report.chart_file.name,
    }

    client.force_login(forum.ada)
    download = client.get(f"/reports/{report.pk}/report.csv")
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="report-{report.pk}.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert rows[0] == ["Total", "Count"]
    chart = client.get(f"/reports/{report.pk}/chart.svg")
    assert chart["Content-Type"] == "image/svg+xml"
    assert b'<rect class="bar"' in b"".join(chart.streaming_content)
    # Another member still gets nothing.
    client.force_login(forum.bayo)
    assert client.get(f"/reports/{report.pk}/report.csv").status_code == 404

    # Expiry deletes the rows as it deleted the files.
    Report.objects.filter(pk=report.pk).update(expires_at=report.finished_at)
    expire_reports()
    assert not StoredFile.objects.exists()


@pytest.mark.django_db
def test_a_file_saved_in_a_transaction_that_rolls_back_is_gone_with_it():
    storage = DatabaseStorage()
    with pytest.raises(RuntimeError), transaction.atomic():
        name = storage.save("reports/9/report-9.csv", ContentFile(b"a,b\n"))
        assert storage.exists(name)
        raise RuntimeError("the report's update failed")
    assert not storage.exists("reports/9/report-9.csv")


@pytest.mark.django_db
def test_stored_files_keep_their_bytes_and_a_taken_name_gets_another():
    storage = DatabaseStorage()
    first = storage.save("reports/1/report-1.csv", ContentFile("Naira,₦\n".encode()))
    second = storage.save("reports/1/report-1.csv", ContentFile(b"\x00\xff binary"))
    assert first == "reports/1/report-1.csv" and second != first
    with storage.open(first) as handle:
        assert handle.read().decode() == "Naira,₦\n"
    assert storage.size(second) == len(b"\x00\xff binary")
    storage.delete(first)
    with pytest.raises(FileNotFoundError):
        storage.open(first)
    with pytest.raises(ValueError, match="reading only"):
        storage.open(second, "wb")
    with pytest.raises(NotImplementedError, match="through a view"):
        storage.url(second)


@pytest.mark.parametrize(
    ("value", "ok"),
    [("database", True), (" Database ", True), ("s3", False), ("ｄａｔａｂａｓｅ", False)],
)
def test_file_storage_setting_says_what_it_accepts(value, ok):
    from tests.test_settings import GOOD_KEY, HOSTS, load_settings

    result = load_settings(
        "from django.conf import settings as s; print(s.STORAGES['default']['BACKEND'])",
        FILE_STORAGE=value,
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS=HOSTS,
    )
    if ok:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "reports.storage.DatabaseStorage"
    else:
        assert result.returncode != 0
        assert "is not one of filesystem, database" in result.stderr
