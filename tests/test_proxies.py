"""The client address the rate limits count: X-Forwarded-For is believed only from the proxies
in TRUSTED_PROXIES, walked from the right; a bad TRUSTED_PROXIES stops the process."""

import subprocess

import pytest
from django.test import RequestFactory

from config.proxies import client_ip, parse_trusted_proxies
from tests.test_settings import load_settings as settings_in_a_process

PROXIES = "10.0.0.0/8, 192.0.2.7 ,2001:db8::/64"


def load_settings(**env: str) -> subprocess.CompletedProcess:
    """config.settings in a fresh process (DEBUG on unless given); prints TRUSTED_PROXIES."""
    probe = "from django.conf import settings; print(*map(str, settings.TRUSTED_PROXIES))"
    return settings_in_a_process(probe, **{"DEBUG": "1", **env})


def address(settings, remote_addr: str, forwarded: str | None = None) -> str:
    settings.TRUSTED_PROXIES = parse_trusted_proxies(PROXIES)
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    return client_ip(RequestFactory().get("/", REMOTE_ADDR=remote_addr, **headers))


@pytest.mark.parametrize(
    "remote_addr, forwarded",
    [
        ("198.51.100.1", "203.0.113.9"),
        ("198.51.100.1", "10.0.0.2"),  # naming a trusted proxy does not make it one
        ("198.51.100.1", "203.0.113.9, 10.0.0.2"),
        ("198.51.100.1", "garbage"),
        ("198.51.100.1", ""),
        ("198.51.100.1", None),
        ("198.51.100.1", ", ".join(f"203.0.{i // 250}.{i % 250}" for i in range(10_000))),
    ],
)
def test_a_client_that_is_not_a_trusted_proxy_is_its_own_address_whatever_it_sends(
    settings, remote_addr, forwarded
):
    assert address(settings, remote_addr, forwarded) == "198.51.100.1"


def test_with_no_trusted_proxies_the_header_is_never_read(settings):
    settings.TRUSTED_PROXIES = parse_trusted_proxies("")
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert client_ip(request) == "10.0.0.2"


@pytest.mark.parametrize(
    "remote_addr, forwarded, client",
    [
        ("10.0.0.2", "203.0.113.9", "203.0.113.9"),
        ("192.0.2.7", "203.0.113.9", "203.0.113.9"),  # a single address is trusted as /32
        # the proxy appends; what the client sent is further left, and ignored
        ("10.0.0.2", "6.6.6.6, 203.0.113.9", "203.0.113.9"),
        ("10.0.0.2", "6.6.6.6,203.0.113.9,10.0.0.3", "203.0.113.9"),  # a chain of two proxies
        ("10.0.0.2", "  203.0.113.9  ,\t10.9.9.9 ", "203.0.113.9"),  # spaces and tabs
        # two header lines, which servers join with a comma
        ("10.0.0.2", "6.6.6.6, 1.1.1.1,203.0.113.9", "203.0.113.9"),
        ("10.0.0.2", "203.0.113.9:51234", "203.0.113.9"),  # a port
        ("10.0.0.2", "junk, 203.0.113.9", "203.0.113.9"),  # garbage left of the client
        ("2001:db8::10", "2001:db8:1::5", "2001:db8:1::5"),  # IPv6
        ("2001:db8::10", "[2001:db8:1::5]:443", "2001:db8:1::5"),
        ("2001:db8::10", "[2001:DB8:1:0:0:0:0:5]", "2001:db8:1::5"),  # one spelling per address
        ("2001:db8::10", "fe80::1%eth0", "fe80::1"),  # a zone is not part of the address
        ("::ffff:10.0.0.2", "203.0.113.9", "203.0.113.9"),  # IPv4-mapped peer
        ("10.0.0.2", "::ffff:203.0.113.9", "203.0.113.9"),
        # not an address where the client should be: the last trusted hop, never the text
        ("10.0.0.2", "garbage", "10.0.0.2"),
        ("10.0.0.2", "203.0.113.9, unknown", "10.0.0.2"),
        ("10.0.0.2", "203.0.113.9, 300.1.2.3", "10.0.0.2"),
        ("10.0.0.2", "203.0.113.9, 10.0.0.3, x", "10.0.0.2"),
        ("10.0.0.2", "203.0.113.9,, 10.0.0.3", "10.0.0.3"),
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "10.0.0.4, 10.0.0.3", "10.0.0.4"),  # from inside: the farthest proxy
    ],
)
def test_behind_trusted_proxies_the_client_is_the_rightmost_untrusted_hop(
    settings, remote_addr, forwarded, client
):
    assert address(settings, remote_addr, forwarded) == client


@pytest.mark.parametrize("remote_addr", ["", "unknown", "not an address"])
def test_a_request_without_an_address_is_counted_as_unknown(settings, remote_addr):
    assert address(settings, remote_addr, "203.0.113.9") == "unknown"


@pytest.mark.parametrize(
    "value, says",
    [
        ("not-an-ip", "'not-an-ip': not an IP address or network"),
        ("10.0.0.0/33", "'10.0.0.0/33': not an IP address or network"),
        ("10.0.0.1/8", "'10.0.0.1/8': host bits are set; did you mean 10.0.0.0/8?"),
        ("10.0.0.0/8;192.0.2.7", "'10.0.0.0/8;192.0.2.7': not an IP address"),
        ("*", "'*': not an IP address or network"),
        ("0.0.0.0/0", "'0.0.0.0/0' trusts every address"),
        ("10.0.0.0/8, ::/0", "'::/0' trusts every address"),
    ],
)
def test_a_malformed_trusted_proxies_stops_the_process_saying_what_is_wrong(value, says):
    result = load_settings(TRUSTED_PROXIES=value)
    assert result.returncode != 0
    assert "TRUSTED_PROXIES must be comma-separated IP addresses or networks" in result.stderr
    assert says in result.stderr


def test_trusted_proxies_are_read_from_the_environment():
    probe = load_settings(TRUSTED_PROXIES=PROXIES)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout == "10.0.0.0/8 192.0.2.7/32 2001:db8::/64\n"
    unset = load_settings()
    assert (unset.returncode, unset.stdout) == (0, "\n")  # no proxy trusted
