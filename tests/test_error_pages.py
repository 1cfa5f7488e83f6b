import pytest
from django.db import OperationalError
from django.test import Client

from forum import selectors

pytestmark = pytest.mark.django_db


def front_page_when(monkeypatch, error: Exception):
    """The front page a member gets when reading the boards raises `error`."""

    def fail():
        raise error

    monkeypatch.setattr(selectors, "section_list", fail)
    return Client(raise_request_exception=False).get("/")


def test_database_outage_is_a_503_page_asking_to_retry(monkeypatch):
    error = OperationalError("connection to server on socket failed: No such file")
    response = front_page_when(monkeypatch, error)
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    html = response.content.decode()
    assert "try again in 10 seconds" in html
    assert "OperationalError" not in html and "socket" not in html


def test_other_errors_stay_a_500(monkeypatch):
    response = front_page_when(monkeypatch, ValueError("a bug"))
    assert response.status_code == 500
    assert "try again" not in response.content.decode()
