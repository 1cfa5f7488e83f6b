"""Health and metrics endpoints for load balancers, orchestrators and Prometheus."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from typing import TypedDict

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from config import redis_clients
from jobs.models import Process
from jobs.ops.metrics import JobsCollector

logger = logging.getLogger("jobs.readyz")


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the web process answers. Readiness (database, Redis, worker) is /readyz."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database and Redis answer and a worker heartbeat is fresh,
    else 503; the body names every check that failed, the server log has the error."""
    checks = {"database": _check(_database), "redis": _check(_redis), "worker": _check(_worker)}
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503
    )


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; needs `Authorization: Bearer $METRICS_TOKEN`."""
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse(
            "Metrics are off: set METRICS_TOKEN and scrape with that bearer token.\n",
            status=403,
            content_type="text/plain",
        )
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        response = HttpResponse(
            "Send the METRICS_TOKEN as `Authorization: Bearer <token>`.\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobsCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class CheckFailed(Exception):
    """A failed check whose message is ours: safe to show anyone."""


class CheckResult(TypedDict):
    ok: bool
    detail: str
    ms: float


def _check(probe: Callable[[], str]) -> CheckResult:
    """Run one check. /readyz is anonymous: a driver's error names hosts, ports and sockets,
    so it goes to the log and the body only says the check failed."""
    started = time.monotonic()
    try:
        detail = probe()
        ok = True
    except CheckFailed as error:
        ok, detail = False, str(error)
    except Exception:
        logger.warning("readiness check %s failed", probe.__name__.strip("_"), exc_info=True)
        ok, detail = False, "unreachable (the server log has the error)"
    return {"ok": ok, "detail": detail, "ms": round((time.monotonic() - started) * 1000, 1)}


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "answers"


def _redis() -> str:
    # The primary, directly or through the Sentinels: a failover shows here as it happens.
    client = redis_clients.from_settings(socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return "answers"


def _worker() -> str:
    threshold = settings.JOBS_PROCESS_ALIVE_THRESHOLD
    newest = (
        Process.objects.filter(kind=Process.Kind.WORKER)
        .order_by("-last_heartbeat_at")
        .values_list("last_heartbeat_at", flat=True)
        .first()
    )
    if newest is None:
        raise CheckFailed("no worker has registered: start one (`make dev` starts one)")
    age = (timezone.now() - newest).total_seconds()
    if age > threshold:
        raise CheckFailed(f"newest worker heartbeat is {age:.0f}s old (limit {threshold:.0f}s)")
    return f"heartbeat {age:.1f}s ago"
