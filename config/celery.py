"""The Celery app. Configuration lives in Django settings under the CELERY_ namespace."""

import os

from celery import Celery

from jobs.worker import control, kombu_redis

# redis:// through kombu's Redis transport with one fix: a worker no longer exits when Redis
# goes away while it waits for messages.
kombu_redis.install()
# Our remote control commands (quiet), for workers and for `celery control`.
control.register()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("naija_forum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
