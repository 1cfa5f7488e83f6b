from datetime import timedelta

from celery import shared_task

from jobs.base import ApplicationJob, register
from jobs.ledger import writes


@shared_task(name="jobs.ping")
def ping() -> str:
    """Round trip through broker and worker: used to tell whether a worker is alive."""
    return "pong"


@register
class PruneJobsJob(ApplicationJob):
    """Daily (beat): delete finished/discarded jobs and task results older than N days."""

    max_attempts = 1

    def run(self, older_than_days: int = 7) -> dict[str, int]:
        jobs, results = writes.prune(older_than=timedelta(days=older_than_days))
        return {"jobs": jobs, "task_results": results}
