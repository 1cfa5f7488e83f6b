"""The Celery app. Configuration lives in Django settings under the CELERY_ namespace."""

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

# redis:// through kombu's Redis transport with one fix (jobs/kombu_redis.py): a worker no
# longer exits when Redis goes away while it waits for messages.
TRANSPORT_ALIASES["redis"] = "jobs.kombu_redis:Transport"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("naija_forum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
