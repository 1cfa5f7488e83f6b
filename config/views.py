"""Site-wide error pages."""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views import defaults

from config.params import BadParameter
from config.transactions import lock_conflict

RETRY_AFTER_SECONDS = 10


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: a parameter config.params refused says what to send instead. Other bad
    requests (a forged host, a broken upload) keep their reason in the log only."""
    message = str(exception) if isinstance(exception, BadParameter) else ""
    return HttpResponse(render_to_string("400.html", {"message": message}), status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: while PostgreSQL is unreachable (restarting, failing over) a request
    fails with OperationalError; that is an outage to wait out, so members get a 503 page
    asking them to retry, and proxies and monitors see Service Unavailable, not a bug.

    A deadlock or serialization failure is an OperationalError too, but the database is up:
    another request held the rows, and the write was retried once already. The member gets
    a 500 that says to send it again, not the outage page, and monitors see an error."""
    error = sys.exc_info()[1]
    if lock_conflict(error):
        return HttpResponse(render_to_string("conflict.html"), status=500)
    if _database_unavailable(error):
        # No request context: its processors (the user, unread counts) would query the
        # database that just failed.
        html = render_to_string("503.html", {"retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(html, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return defaults.server_error(request)


def _database_unavailable(error: BaseException | None) -> bool:
    while error is not None:  # the middleware or a view may have wrapped Django's error
        if isinstance(error, (OperationalError, InterfaceError)):
            return True
        error = error.__cause__
    return False
