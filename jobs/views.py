from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the web process answers. Readiness (database, Redis, worker) is /readyz."""
    return JsonResponse({"status": "ok"})
