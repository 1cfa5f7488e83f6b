"""Production is the default, and refuses to start unsafe: config/settings.py imported in a
fresh process, as gunicorn, a worker or manage.py would, with DEBUG off or unset."""

import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import ROOT

GOOD_KEY = secrets.token_urlsafe(50)
HOSTS = "forum.example.com"


SHOW_DEBUG_AND_HOSTS = (
    "from django.conf import settings; print(settings.DEBUG, settings.ALLOWED_HOSTS)"
)


def load_settings(probe: str = SHOW_DEBUG_AND_HOSTS, **env: str) -> subprocess.CompletedProcess:
    """config.settings imported in a fresh process, as gunicorn would; `probe` prints what
    the test reads."""
    base = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": "postgres://naija@db.invalid/naija",
        "REDIS_URL": "redis://redis.invalid:6379/0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    return subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "secret_key",
    [
        None,  # unset
        "",
        "change-me",
        "change-me" * 6,  # long enough for Django, still the example
        "CHANGEME-" + secrets.token_urlsafe(50),
        "dev-only-insecure-key-set-SECRET_KEY-in-production",  # settings' own dev key
        "django-insecure-" + secrets.token_urlsafe(50),  # what startproject writes
        secrets.token_urlsafe(30),  # 40 characters: too short
        "ab" * 40,  # long, two distinct characters
    ],
)
@pytest.mark.parametrize("debug", [None, "0", "false", "no"])
def test_production_refuses_to_start_without_a_real_secret_key(secret_key, debug):
    env = {"ALLOWED_HOSTS": HOSTS}
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key
    if debug is not None:
        env["DEBUG"] = debug
    result = load_settings(**env)
    assert result.returncode != 0
    assert "Refusing to start: DEBUG is off (production)" in result.stderr
    assert "SECRET_KEY must be a long random secret" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr  # says how to make one
    assert "ALLOWED_HOSTS must" not in result.stderr


@pytest.mark.parametrize("hosts", [None, "", ",", " , ", "*", "forum.example.com,*"])
def test_production_refuses_to_start_without_explicit_allowed_hosts(hosts):
    env = {"DEBUG": "0", "SECRET_KEY": GOOD_KEY}
    if hosts is not None:
        env["ALLOWED_HOSTS"] = hosts
    result = load_settings(**env)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must list the host names the site answers to" in result.stderr
    assert "SECRET_KEY must" not in result.stderr


def test_one_message_names_everything_missing_and_the_laptop_way():
    result = load_settings(DEBUG="0")
    assert "SECRET_KEY must" in result.stderr and "ALLOWED_HOSTS must" in result.stderr
    assert "use `make dev` (or set DEBUG=1)" in result.stderr


def test_production_starts_with_a_real_key_and_hosts():
    result = load_settings(DEBUG="0", SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS=f" {HOSTS} ,api.{HOSTS}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(" ", 1) == ["False", f"['{HOSTS}', 'api.{HOSTS}']\n"]


def test_a_laptop_needs_only_debug_on():
    result = load_settings(DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "True ['127.0.0.1', 'localhost', '[::1]']\n"


SENTINELS = "sentinel://10.0.0.1:26379;sentinel://10.0.0.2:26379;sentinel://10.0.0.3:26379/2"
SHOW_BROKER = (
    "from django.conf import settings as s; "
    "print(s.CELERY_BROKER_URL, s.CELERY_BROKER_TRANSPORT_OPTIONS.get('master_name'))"
)


def test_redis_behind_sentinels_sets_the_broker_and_every_client_from_one_url():
    result = load_settings(
        SHOW_BROKER,
        REDIS_URL=SENTINELS,
        REDIS_SENTINEL_MASTER="naija",
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS=HOSTS,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [SENTINELS, "naija"]


@pytest.mark.parametrize("master", ["", "   "])
def test_sentinels_without_the_primarys_name_refuse_to_start_and_say_what_to_set(master):
    result = load_settings(
        REDIS_URL=SENTINELS, REDIS_SENTINEL_MASTER=master, SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS=HOSTS
    )
    assert result.returncode != 0
    assert "set REDIS_SENTINEL_MASTER" in result.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sentinel://10.0.0.1:26379;redis://10.0.0.2:6379/0", "is not sentinel://host:port"),
        ("sentinel://:26379/0", "is not sentinel://host:port"),
        ("sentinel://10.0.0.1:26379/0;sentinel://10.0.0.2:26379", "after the last Sentinel"),
        ("sentinel://10.0.0.1:26379/\uff11", "as digits"),  # a fullwidth digit one
        ("sentinel://10.0.0.1:26379/\u0661", "as digits"),  # an Arabic-Indic digit one
        ("sentinel://10.0.0.1:99999/0", "port"),
        ("sentinel://:s3cret-pass@10.0.0.1:26379/x", "as digits"),  # the password not shown
        ("sentinel://;", "is not sentinel://host:port"),
        ("SENTINEL://10.0.0.1:26379/0", "is not sentinel://host:port"),  # kombu: lower case
        (" sentinel://10.0.0.1:26379/0 ;; ", None),  # spaces, empty parts: read as kombu would
    ],
)
def test_a_malformed_sentinel_url_refuses_to_start_and_shows_one_that_works(url, says):
    """(A well-formed one with stray spaces and separators starts.)"""
    result = load_settings(
        SHOW_BROKER,
        REDIS_URL=url,
        REDIS_SENTINEL_MASTER="naija",
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS=HOSTS,
    )
    if says is None:
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["sentinel://10.0.0.1:26379/0", "naija"]
        return
    assert result.returncode != 0
    assert says in result.stderr
    assert "sentinel://10.0.0.1:26379;" in result.stderr or "digits" in result.stderr
    assert "s3cret-pass" not in result.stderr
