"""Bare Celery for bench/jobs.py: stock settings, Redis broker, no result backend, no Django."""

import os
import time

import redis
from celery import Celery

if os.environ.get("BENCH_TRANSPORT") == "jobs":
    # Our Redis transport (jobs/worker/kombu_redis.py) under bare Celery: tells what the
    # transport gains from what the ledger costs.
    from jobs.worker import kombu_redis

    kombu_redis.install()

app = Celery("bare", broker=os.environ["REDIS_URL"])
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_default_queue="default",
)
_redis = redis.Redis.from_url(os.environ["REDIS_URL"])


@app.task(name="bench.noop")
def noop(key: str) -> None:
    _redis.hset("bench:start", key, time.time())


@app.task(name="bench.noop_late", acks_late=True, reject_on_worker_lost=True)
def noop_late(key: str) -> None:
    """The same, acknowledged after the run as our jobs are: separates that cost from the
    ledger's."""
    _redis.hset("bench:start", key, time.time())
