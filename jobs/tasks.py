from celery import shared_task


@shared_task(name="jobs.ping")
def ping() -> str:
    """Round trip through broker and worker: used to tell whether a worker is alive."""
    return "pong"
