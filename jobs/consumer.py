"""Old path of jobs/worker/consumer.py, kept: CELERY_WORKER_CONSUMER and deployments name
`jobs.consumer:Consumer`."""

from jobs.worker.consumer import Consumer

__all__ = ["Consumer"]
