"""/readyz: which check fails, never where it points."""

import pytest
from django.db import connection

from devtools.embedded import free_port

pytestmark = pytest.mark.django_db(transaction=True)


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
