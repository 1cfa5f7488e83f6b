"""Bare Celery for bench/jobs.py, the baseline of issue 20: stock settings, kombu's own Redis
transport, no result backend, no Django; the task acknowledged after its run (acks_late), as
our jobs are. Never tune it: the ratio is only fair against stock Celery."""

import os
import time

import redis
from celery import Celery

app = Celery("bare", broker=os.environ["REDIS_URL"])
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_default_queue="default",
)
_redis = redis.Redis.from_url(os.environ["REDIS_URL"])


@app.task(name="bench.noop", acks_late=True, reject_on_worker_lost=True)
def noop(key: str) -> None:
    _redis.hset("bench:start", key, time.time())
