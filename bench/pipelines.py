"""µs to build one QoS pipeline, what a worker does twice per message (the unacked copy, then
the ack): kombu's way (a new redis-py client, then its pipeline) against ours
(jobs.worker.kombu_redis.Channel.pipeline). Build only, no round trip to Redis.

    REDIS_URL=redis://127.0.0.1:6379/11 DEBUG=1 .venv/bin/python bench/pipelines.py
"""

import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from kombu import Connection  # noqa: E402

import config.celery  # noqa: E402,F401  (serves redis:// with jobs.worker.kombu_redis)

NUMBER, REPEAT = 20_000, 7


def main() -> None:
    channel = Connection(os.environ["REDIS_URL"]).default_channel
    qos = channel.qos

    def kombu_pipeline() -> object:
        with channel.conn_or_acquire() as client:
            return client.pipeline()

    def qos_pipeline() -> object:
        with qos.pipe_or_acquire() as pipe:
            return pipe

    for name, build in (("kombu_pipeline", kombu_pipeline), ("qos_pipeline", qos_pipeline)):
        best = min(timeit.repeat(build, number=NUMBER, repeat=REPEAT)) / NUMBER
        print(f"{name} = {best * 1e6:.2f} us")


if __name__ == "__main__":
    main()
