"""The copy of an email the deliveries log keeps: everything but the secrets in it.

A password-reset link takes over an account and an unsubscribe token never expires, so
neither is stored readable: whoever reads the log (staff, a database dump, a backup) must
not be able to use what the member was sent. The real email keeps its real links.

Three layers, each enough for what it knows: the secrets the email made (passed in, in any
spelling), the URLs that carry one (reset and unsubscribe links, `?token=`-style
parameters), and anything shaped like a Django token or signed value. Rows stored before
the log was redacted are cleaned by migration notifications/0003 with the same function.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from urllib.parse import quote

from django.urls import reverse
from django.utils.html import escape

REDACTED = "[redacted]"

# One URL path segment as it can appear in text, HTML or a header.
_SEGMENT = r"[^/\s\"'<>]+"
_PLACEHOLDER = "PLACEHOLDER0SEGMENT"
# A query or fragment parameter that carries a credential: ?token=…, &sig=…, #key=…
_SECRET_PARAMETER = re.compile(
    r"(?i)([?&#;](?:token|key|sig|signature|secret|password|code|auth)=)[^&#\s\"'<>]+"
)
# django.contrib.auth's reset token: base-36 timestamp, a dash, a hex HMAC.
_RESET_TOKEN = re.compile(r"(?<![0-9a-z-])[0-9a-z]{1,13}-[0-9a-f]{20,}(?![\w-])")
# django.core.signing's output: value[:timestamp]:signature (a base64 HMAC of 27 or more
# characters), its colons possibly percent-encoded.
_COLON = r"(?::|%3[Aa])"
_SIGNED_VALUE = re.compile(rf"[\w.-]+(?:{_COLON}[0-9A-Za-z]+)?{_COLON}[\w-]{{27,}}(?![\w-])")
# What every signed value contains. Searched first: the pattern above backtracks at every
# character of a text (~0.3 ms over an email's HTML), this one does not, and most texts
# have nothing of the kind left once the email's own secrets are replaced.
_SIGNATURE = re.compile(rf"{_COLON}[\w-]{{27}}")


def redact(text: str, *, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret replaced by [redacted]; `secrets` are the values the email
    made, replaced in plain, URL-quoted and HTML-escaped spellings."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for spelling in {secret, quote(secret, safe=""), quote(secret), escape(secret)}:
            text = text.replace(spelling, REDACTED)
    for pattern in _secret_urls():
        text = pattern.sub(rf"\g<1>{REDACTED}/", text)
    text = _SECRET_PARAMETER.sub(rf"\g<1>{REDACTED}", text)
    text = _RESET_TOKEN.sub(REDACTED, text)
    return redact_signed_values(text)


def redact_signed_values(text: str) -> str:
    return _SIGNED_VALUE.sub(REDACTED, text) if _SIGNATURE.search(text) else text


def redact_headers(headers: dict[str, str], *, secrets: Iterable[str] = ()) -> dict[str, str]:
    secrets = list(secrets)
    return {name: redact(value, secrets=secrets) for name, value in headers.items()}


@cache
def _secret_urls() -> list[re.Pattern]:
    """The paths of the views whose URL is a credential, from the URLconf: everything after
    their fixed prefix is redacted, whatever the scheme, host or case."""
    paths = [
        reverse("password_reset_confirm", args=[_PLACEHOLDER, _PLACEHOLDER]),
        reverse("notifications:unsubscribe", args=[_PLACEHOLDER]),
    ]
    patterns = []
    for path in paths:
        prefix = path.split(_PLACEHOLDER, 1)[0]
        rest = path[len(prefix) :]
        segments = re.escape(rest).replace(re.escape(_PLACEHOLDER), _SEGMENT)
        patterns.append(re.compile(f"(?i)({re.escape(prefix)}){segments.rstrip('/')}/?"))
    return patterns
