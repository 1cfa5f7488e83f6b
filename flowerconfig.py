"""Flower's configuration file: Flower runs it when it starts from this directory (`celery -A
config flower`, as compose, Procfile.dev and the README start it).

Flower's API can run any task and shut workers down, so Flower starts only behind basic auth
(FLOWER_BASIC_AUTH or --basic-auth, `user:password[,user:password]`); with DEBUG off the
password must not be a published one and must have at least 12 characters. Flower itself
exempts /metrics from auth; here it asks for the same credentials (/healthcheck stays open
for container health checks: it says "OK" and nothing else).

Tornado reads every top-level name that matches a Flower option, so helpers stay private.
"""

_PUBLISHED_PASSWORDS = {"change-me", "changeme", "naija-admin", "admin", "password", "flower"}
_MIN_PASSWORD_LENGTH = 12


def _require_basic_auth() -> None:
    from django.conf import settings
    from tornado.options import options

    credentials = [entry.strip() for entry in options.basic_auth or [] if entry.strip()]
    if not credentials:
        raise SystemExit(
            "Flower refuses to start without a password: set FLOWER_BASIC_AUTH=user:password "
            "(`make dev` sets admin:naija-admin for a laptop)."
        )
    for entry in credentials:
        user, _, password = entry.partition(":")
        if not user.strip() or not password.strip():
            raise SystemExit(
                "FLOWER_BASIC_AUTH must be user:password (several: comma-separated), with a "
                "user and a password in each."
            )
        weak = password in _PUBLISHED_PASSWORDS or len(password) < _MIN_PASSWORD_LENGTH
        if weak and not settings.DEBUG:
            raise SystemExit(
                f"FLOWER_BASIC_AUTH: the password of {user!r} is an example value or shorter "
                f"than {_MIN_PASSWORD_LENGTH} characters; set a long random one "
                "(python -c 'import secrets; print(secrets.token_urlsafe(24))')."
            )


def _metrics_behind_auth() -> None:
    from flower import urls
    from flower.views.monitor import Metrics
    from tornado import web

    class AuthenticatedMetrics(Metrics):
        @web.authenticated
        async def get(self) -> None:
            await super().get()

    routes = [
        i
        for i, route in enumerate(urls.handlers)
        if isinstance(route, tuple) and route[1] is Metrics
    ]
    if len(routes) != 1:  # Flower changed its routes: fail rather than serve /metrics openly
        raise SystemExit("flowerconfig.py: Flower's /metrics route was not found; update it.")
    pattern, _, *rest = urls.handlers[routes[0]]
    urls.handlers[routes[0]] = (pattern, AuthenticatedMetrics, *rest)


_require_basic_auth()
_metrics_behind_auth()
