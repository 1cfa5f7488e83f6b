"""The Celery app. Configuration lives in Django settings under the CELERY_ namespace."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from celery import Celery
from celery.app import backends

from jobs.worker import control, kombu_redis
from jobs.worker import inspect as ledger_inspect

if TYPE_CHECKING:
    from celery.backends.base import Backend

# redis:// through kombu's Redis transport with one fix: a worker no longer exits when Redis
# goes away while it waits for messages.
kombu_redis.install()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("naija_forum", control=control.Control)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Our remote-control commands (`celery control quiet`, `celery inspect ledger_scheduled`):
# workers answer them, and the `celery` CLI accepts only commands registered in its own process.
control.register()
ledger_inspect.register()

if "celery.bin.celery" in sys.modules:  # the `celery` command (its CLI is loaded nowhere else)
    from jobs.ops import celery_cli

    celery_cli.install()


def setup_django() -> None:
    """Set Django up in a process where nothing has: the `celery` CLI's call and result,
    Flower, a script. Celery's Django fixup does it in workers and beat only, and the results
    backend and the job classes import Django models.

    Nothing to do while Django sets itself up (web, manage.py): this module is imported then,
    its models load as it goes, and populate() is not reentrant."""
    from django.apps import apps

    if apps.ready or apps.loading:
        return
    import django

    django.setup()


def results_backend(*, app: Celery, url: str | None = None) -> Backend:
    """django-celery-results' database backend (Celery's "django-db"), with Django set up
    first: its module imports Django models."""
    setup_django()
    return backends.by_name("django-db", app.loader)(app=app, url=url)
