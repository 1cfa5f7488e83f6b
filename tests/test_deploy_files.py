"""What an operator relies on in docker-compose.yml and the Dockerfile.

No Docker engine is needed: the files are read as data. No database either.
"""

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ["web", "worker", "reports_worker", "beat", "dispatcher", "flower"]
ALL_SERVICES = ["postgres", "redis", "mailpit", *APP_SERVICES]


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def command_args(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def command_text(service: dict) -> str:
    return " ".join(command_args(service))


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


# What an operator exports before `docker compose up` (the top of docker-compose.yml).
HOST_ENV = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "localhost,127.0.0.1",
    "HTTPS": "0",
    "FLOWER_BASIC_AUTH": f"ops:{secrets.token_urlsafe(18)}",
}


def interpolate(value: str, host: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}` with `host` exported."""

    def one(match: re.Match) -> str:
        name, operator, word = match.group(1), match.group(2), match.group(3)
        if host.get(name):
            return host[name]
        if operator == ":?":
            raise ValueError(f"compose stops: {word}")
        return word or ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def required_variables(services: dict) -> dict[str, str]:
    """{NAME: error} for every `${NAME:?error}` in the app services' environment."""
    found = {}
    for value in environment(services["web"]).values():
        found.update(re.findall(r"\$\{(\w+):\?([^}]*)\}", value))
    return found


def consumed_queues(service: dict) -> set[str]:
    args = command_args(service)
    for i, arg in enumerate(args):
        if arg.startswith("--queues="):
            return set(arg.split("=", 1)[1].split(","))
        if arg in ("--queues", "-Q"):
            return set(args[i + 1].split(","))
    raise AssertionError(f"no --queues in {args}: a worker without it consumes every queue")


def published_container_ports(service: dict) -> set[int]:
    ports = set()
    for port in service.get("ports", []):
        target = port["target"] if isinstance(port, dict) else str(port).rsplit(":", 1)[-1]
        ports.add(int(str(target).split("/")[0]))
    return ports


def settings_probe(env: dict[str, str], probe: str) -> subprocess.CompletedProcess:
    """config.settings imported in a fresh process with exactly `env`; `probe` prints."""
    return subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_service_exists(services):
    assert sorted(services) == sorted(ALL_SERVICES)


@pytest.mark.parametrize("name", ALL_SERVICES)
def test_every_service_has_a_healthcheck(services, name):
    check = services[name].get("healthcheck", {})
    assert not check.get("disable"), f"{name}: healthcheck disabled"
    test = check.get("test")
    assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, test


def test_app_services_run_one_image_built_from_this_repo(services):
    builds = {
        name: (services[name].get("build"), services[name].get("image")) for name in APP_SERVICES
    }
    assert set(builds.values()) == {(".", "naija-forum:latest")}, builds
    assert (ROOT / "Dockerfile").is_file()


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_healthy_postgres_and_redis(services, name):
    depends_on = services[name]["depends_on"]
    for dependency in ("postgres", "redis"):
        assert depends_on[dependency] == {"condition": "service_healthy"}


def test_web_migrates_then_serves_with_gunicorn(services):
    command = command_text(services["web"])
    # `&&`: gunicorn never starts on a schema that failed to migrate.
    assert re.search(r"manage\.py migrate --no-input && (exec )?gunicorn config\.wsgi\b", command)
    assert "--bind 0.0.0.0:8000" in command


def test_reports_have_their_own_worker_and_every_queue_is_consumed(services):
    main_queues = consumed_queues(services["worker"])
    report_queues = consumed_queues(services["reports_worker"])
    assert "reports" not in main_queues
    assert report_queues == {"reports"}
    assert "--concurrency=1" in command_args(services["reports_worker"])
    assert main_queues | report_queues == set(settings.JOB_QUEUES)


def test_make_dev_runs_reports_on_their_own_worker_too():
    procfile = (ROOT / "Procfile.dev").read_text()
    commands = dict(re.findall(r"^([\w-]+):\s*(.+)$", procfile, re.MULTILINE))
    main_queues = consumed_queues({"command": commands["worker"]})
    report_queues = consumed_queues({"command": commands["reports_worker"]})
    assert "reports" not in main_queues and report_queues == {"reports"}
    assert main_queues | report_queues == set(settings.JOB_QUEUES)


def test_web_and_flower_ports_are_published(services):
    assert 8000 in published_container_ports(services["web"])
    assert 5555 in published_container_ports(services["flower"])
    assert "--port=5555" in command_text(services["flower"])


def test_compose_has_no_default_secret_and_stops_saying_what_to_set(services):
    required = required_variables(services)
    assert set(required) == {"SECRET_KEY", "ALLOWED_HOSTS", "HTTPS", "FLOWER_BASIC_AUTH"}
    assert all(message.startswith(f"set {name}") for name, message in required.items())
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in compose and "naija-admin" not in compose
    env = environment(services["web"])
    for name in required:
        with pytest.raises(ValueError, match=f"compose stops: set {name}"):
            interpolate(env[name], {**HOST_ENV, name: ""})


def test_flower_starts_where_flowerconfig_asks_for_its_password(services):
    # flowerconfig.py refuses to start without FLOWER_BASIC_AUTH and guards /metrics
    # (tests/test_flowerconfig.py); it is read from the directory Flower starts in.
    assert command_args(services["flower"])[:4] == ["celery", "-A", "config", "flower"]
    assert "--basic-auth" not in command_text(services["flower"])  # never an empty override
    assert "${FLOWER_BASIC_AUTH:?" in environment(services["flower"])["FLOWER_BASIC_AUTH"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^WORKDIR /app$", dockerfile, re.MULTILINE) and "COPY . ." in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert (ROOT / "flowerconfig.py").is_file() and "flowerconfig.py" not in ignored


def settings_env_reads() -> tuple[set[str], set[str]]:
    """Names settings.py reads from the environment, and those it can do without.

    A name can do without the environment when every read of it passes `default=`, or when
    settings only branch on `"NAME" in env` (an optional variable with a fallback branch).
    """
    source = (ROOT / "config" / "settings.py").read_text()
    call = r"\benv(?:\.\w+)?\(\s*[\"'](\w+)[\"']([^)]*)\)"
    membership = r"[\"'](\w+)[\"']\s+(not\s+)?in\s+env\b"
    names, with_default, without_default, optional = set(), set(), set(), set()
    for name, rest in re.findall(call, source):
        names.add(name)
        (with_default if re.search(r"\bdefault\s*=", rest) else without_default).add(name)
    for name, negated in re.findall(membership, source):
        names.add(name)
        if not negated:
            optional.add(name)
    return names, (with_default - without_default) | optional


def test_every_variable_settings_needs_is_set_for_every_app_service(services):
    names, can_be_unset = settings_env_reads()
    # The scan must see what we know is there, or a broken regex would pass everything.
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "EMAIL_URL"} <= names
    assert {"DATABASE_URL", "REDIS_URL"}.isdisjoint(can_be_unset)
    required = names - can_be_unset
    missing = {
        name: sorted(required - set(environment(services[name])))
        for name in APP_SERVICES
        if required - set(environment(services[name]))
    }
    assert not missing, f"set these in x-app's environment or give them a default: {missing}"


def test_compose_environment_configures_production_settings(services):
    """Import settings in a fresh process with exactly the app environment compose gives."""
    env = {
        name: interpolate(value, HOST_ENV) for name, value in environment(services["web"]).items()
    }
    probe = (
        "import json; from django.conf import settings as s; print(json.dumps({"
        "'debug': s.DEBUG, 'db': [s.DATABASES['default'][k] for k in ('HOST', 'PORT', 'NAME')],"
        "'broker': s.CELERY_BROKER_URL, 'email': [s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT],"
        "'hosts': s.ALLOWED_HOSTS, 'whitenoise': 'whitenoise.middleware.WhiteNoiseMiddleware'"
        " in s.MIDDLEWARE}))"
    )
    result = settings_probe(env, probe)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "debug": False,
        "db": ["postgres", 5432, "naija_forum"],
        "broker": "redis://redis:6379/0",
        "email": ["django.core.mail.backends.smtp.EmailBackend", "mailpit", 1025],
        "hosts": ["localhost", "127.0.0.1"],
        "whitenoise": True,
    }


def test_the_image_is_production_unless_told_otherwise():
    dockerfile = (ROOT / "Dockerfile").read_text()
    env_block = re.search(r"^ENV (.+?)(?=^\S)", dockerfile, re.MULTILINE | re.DOTALL).group(1)
    assert re.search(r"\bDEBUG=0\b", env_block)
    assert "SECRET_KEY" not in env_block and "ALLOWED_HOSTS" not in env_block
    # collectstatic's key is made at build time and dropped; no key is written in the file.
    keys = re.findall(r"SECRET_KEY=(.*?)\s*\\?$", dockerfile, re.MULTILINE)
    assert keys and all(key.startswith('"$(python -c') and "token_urlsafe" in key for key in keys)


def test_the_web_healthcheck_passes_on_production_settings(services, tmp_path):
    """Django answers 400 to a Host it does not allow: the check must send an allowed one."""
    from devtools.embedded import free_port, wait_for_port

    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "HTTPS": "1",
        "SECRET_KEY": HOST_ENV["SECRET_KEY"],
        "ALLOWED_HOSTS": ".forum.example,api.test",
        "STATIC_ROOT": str(tmp_path),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, server, timeout=60)
        check = command_args({"command": services["web"]["healthcheck"]["test"][1:]})
        assert check[:2] == ["python", "-c"]
        script = check[2].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, result.stderr[-1000:]
        with pytest.raises(urllib.error.HTTPError, match="400"):  # what the old check got
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_dockerfile_runs_gunicorn_as_non_root():
    dockerfile = (ROOT / "Dockerfile").read_text()
    user = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"collectstatic --no-input", dockerfile)
    cmd = re.findall(r"^CMD\s+(\[.*\])\s*$", dockerfile, flags=re.MULTILINE)
    assert cmd and json.loads(cmd[-1])[:4] == ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000"]


def test_production_settings_pass_the_deploy_check():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "forum.example.com",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for the browser tests only
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no issues" in check.stdout


def test_security_headers_on_every_page(client, db):
    response = client.get("/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]


def test_readme_documents_every_variable_settings_reads():
    names, _ = settings_env_reads()
    readme = (ROOT / "README.md").read_text()
    undocumented = sorted(name for name in names if f"`{name}`" not in readme)
    assert not undocumented, f"add these to the README's environment table: {undocumented}"


# --- Requirements: the image gets the runtime, make dev / make test the tools too -------------

RUNTIME_CODE = ["config", "forum", "jobs", "notifications", "reports", "search"]
RUNTIME_FILES = ["manage.py", "flowerconfig.py"]


def requirement_names(path: Path) -> set[str]:
    """Distribution names a requirements file pins itself (not through `-r`)."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[=<>~!; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_the_image_installs_the_runtime_requirements_only():
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install\b[^\n]*", dockerfile)
    assert installs == ["pip install --no-cache-dir -r requirements.txt"]
    assert "requirements-dev" not in dockerfile
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert "-r requirements.txt" in dev.splitlines()  # make dev / make test get both
    assert "requirements-dev.txt" in (ROOT / "Makefile").read_text()


def test_every_requirement_is_pinned_once():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-r "):
                assert re.fullmatch(r"[\w.\-\[\]]+==[\w.]+", line), f"{name}: {line!r}"
    runtime, dev = (
        requirement_names(ROOT / "requirements.txt"),
        requirement_names(ROOT / "requirements-dev.txt"),
    )
    assert runtime and dev and not runtime & dev


def test_runtime_code_imports_no_dev_only_package():
    """What the image runs must not need what only requirements-dev.txt installs."""
    import ast
    import importlib.metadata

    dev_only = requirement_names(ROOT / "requirements-dev.txt")
    modules_of = importlib.metadata.packages_distributions()  # top-level module → dists
    files = [p for d in RUNTIME_CODE for p in (ROOT / d).rglob("*.py")]
    files += [ROOT / f for f in RUNTIME_FILES]
    offenders = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                dists = {
                    d.lower().replace("_", "-") for d in modules_of.get(name.split(".")[0], [])
                }
                if dists & dev_only:
                    offenders.append(f"{path.relative_to(ROOT)}: {name} ({', '.join(dists)})")
    assert not offenders, offenders
    assert {"aiosmtpd", "pytest", "playwright", "ruff"} <= dev_only  # the check has teeth
