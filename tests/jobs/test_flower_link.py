"""The dashboard's job page links to Flower's page of the same task when FLOWER_URL says where
Flower is; a FLOWER_URL that is no absolute http(s) address stops the start."""

import subprocess

import pytest
from django.urls import reverse

from tests.forum.factories import UserFactory
from tests.jobs.sample_jobs import RecordJob
from tests.test_settings import load_settings as settings_in_a_process

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader_client(client):
    """Staff with the permission the job page asks for, and no other."""
    client.force_login(UserFactory(is_staff=True, permissions=["jobs.view_job"]))
    return client


def job_page(client, job_id) -> str:
    response = client.get(reverse("admin:jobs_dashboard_job", args=[job_id]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_job_page_links_to_flowers_page_of_the_same_task(reader_client, settings):
    settings.FLOWER_URL = "https://ops.example.com/flower"
    job_id = RecordJob.delay("linked").id
    page = job_page(reader_client, job_id)
    link = f'<a href="https://ops.example.com/flower/task/{job_id}" id="flower-task"'
    assert link in page and ">Open in Flower</a>" in page


def test_without_flower_url_the_job_page_has_no_flower_link(reader_client, settings):
    settings.FLOWER_URL = ""
    page = job_page(reader_client, RecordJob.delay("unlinked").id)
    assert "Open in Flower" not in page and "/task/" not in page


def flower_url_setting(value: str) -> subprocess.CompletedProcess:
    """config.settings in a fresh process with FLOWER_URL=value; prints FLOWER_URL."""
    probe = "from django.conf import settings; print(repr(settings.FLOWER_URL))"
    return settings_in_a_process(probe, DEBUG="1", FLOWER_URL=value)


@pytest.mark.parametrize(
    ("value", "setting"),
    [
        ("", "''"),
        ("http://127.0.0.1:5555", "'http://127.0.0.1:5555'"),
        (" https://flower.example.com/ ", "'https://flower.example.com'"),
        ("https://ops.example.com/flower/", "'https://ops.example.com/flower'"),
        ("http://[::1]:5555", "'http://[::1]:5555'"),
    ],
)
def test_flower_url_takes_an_absolute_http_address(value, setting):
    result = flower_url_setting(value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == setting


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("//evil.example", "must start with http:// or https:// and name a host"),
        ("javascript:alert(1)", "must start with http:// or https://"),
        ("flower.example.com", "must start with http:// or https://"),
        ("ftp://flower.example.com", "must start with http:// or https://"),
        ("https://", "name a host"),
        ("https:///task", "name a host"),
        ("http:evil.example", "name a host"),
        ("https://flower.example.com\\@evil.example", "a backslash"),
        ("https://flower .example.com", "a space"),
        ("https://flower.example.com/\x1b[2J", "a control character"),
        ("https://ops@flower.example.com", "must not carry a user or password"),
        ("https://flower.example.com/?next=x", "must not have a query"),
        ("https://flower.example.com/#top", "or fragment"),
        ("https://flower.example.com:99999", "port must be a number from 1 to 65535"),
        ("https://flower.example.com:0", "port must not be 0"),
    ],
)
def test_a_flower_url_that_is_no_absolute_http_address_stops_the_start(value, says):
    result = flower_url_setting(value)
    assert result.returncode != 0
    assert "FLOWER_URL" in result.stderr and says in result.stderr, result.stderr[-2000:]
    assert "e.g. FLOWER_URL=https://flower.example.com, or leave it unset" in result.stderr


def test_the_error_never_echoes_a_password_in_flower_url():
    result = flower_url_setting("https://ops:s3cret-pw@flower.example.com")
    assert result.returncode != 0 and "must not carry a user or password" in result.stderr
    assert "s3cret-pw" not in result.stderr
