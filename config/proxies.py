"""The client's address, the one way every part of the site reads it (rate limits key on it).

`X-Forwarded-For` is written by whoever sends the request, so it is believed only as far as
the proxies the operator lists in TRUSTED_PROXIES (addresses or networks; empty, the default,
believes nobody). The header is walked from the right: each proxy appends the address it
got the request from, so the rightmost address that is not a trusted proxy is the client —
anything to its left is what the client chose to send.

    TRUSTED_PROXIES=10.0.0.0/8,192.0.2.7   # the load balancer's network and a TLS proxy

A hop that is not an address (garbage, `unknown`) stops the walk: the last trusted hop is
taken instead, so a made-up value never becomes a fresh rate-limit key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:  # settings import this module: keep it light
    from django.http import HttpRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or — when REMOTE_ADDR is a trusted proxy — the
    rightmost X-Forwarded-For hop that is not one. "unknown" when there is no address."""
    peer = parse_address(request.META.get("REMOTE_ADDR", ""))
    if peer is None:
        return "unknown"
    trusted = settings.TRUSTED_PROXIES
    if not _is_trusted(peer, trusted):
        return str(peer)
    # Servers join repeated X-Forwarded-For lines with commas (WSGI, gunicorn): one list.
    hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    nearest = peer
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            break  # not an address: nothing to its left can be believed either
        if not _is_trusted(address, trusted):
            return str(address)
        nearest = address
    return str(nearest)


def parse_address(text: str) -> Address | None:
    """An address as proxies write it — `203.0.113.9`, `203.0.113.9:5123`, `2001:db8::1`,
    `[2001:db8::1]:443` — in one canonical form (IPv4-mapped IPv6 as IPv4, no zone), or None."""
    text = text.strip()
    if text.startswith("["):  # [IPv6] or [IPv6]:port
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # IPv4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def parse_trusted_proxies(value: str) -> tuple[Network, ...]:
    """TRUSTED_PROXIES, comma-separated addresses and networks, for settings. A bad entry
    stops the process with what was wrong: a proxy list that silently trusts less (or more)
    than meant would show up only as wrong rate limits."""
    networks, problems = [], []
    for entry in _entries(value):
        try:
            network = ipaddress.ip_network(entry)
        except ValueError as error:
            problems.append(f"{entry!r}: {_advice(entry, error)}")
            continue
        if network.prefixlen == 0:
            problems.append(
                f"{entry!r} trusts every address, so anyone could choose their own by sending "
                "X-Forwarded-For: list your proxies' addresses or networks"
            )
            continue
        networks.append(network)
    if problems:
        raise ImproperlyConfigured(
            "TRUSTED_PROXIES must be comma-separated IP addresses or networks of the proxies in "
            "front of the site (e.g. TRUSTED_PROXIES=10.0.0.0/8,192.0.2.7), or empty to trust "
            "none:\n- " + "\n- ".join(problems)
        )
    return tuple(networks)


def _is_trusted(address: Address, trusted: Iterable[Network]) -> bool:
    return any(address in network for network in trusted)


def _entries(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def _advice(entry: str, error: ValueError) -> str:
    if "has host bits set" in str(error):
        network = ipaddress.ip_network(entry, strict=False)
        return f"host bits are set; did you mean {network}?"
    return "not an IP address or network (CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32)"
