"""Search jobs: ContentIndexingJob (the seed's) and the periodic SearchSweepJob.

Celery's autodiscovery imports `<app>.tasks`, which registers both with the worker.
"""

from __future__ import annotations

from django.db import OperationalError

from forum.models import Comment
from jobs.base import ApplicationJob, register
from search import services

CONTENT_TYPES = ("post", "comment")


@register
class ContentIndexingJob(ApplicationJob):
    """Index the thread a post or comment belongs to, if a change left it dirty.

    Enqueued by search.services on a clean→dirty transition; re-checks at run time and
    returns why it skipped (already indexed by a later run, content deleted)."""

    queue = "search"
    max_attempts = 5
    retry_on = (OperationalError,)  # a deadlock or a lost connection: try again

    def validate(self, *, content_id: int, content_type: str) -> None:
        if content_type not in CONTENT_TYPES:
            raise ValueError(
                f"ContentIndexingJob: content_type must be one of {', '.join(CONTENT_TYPES)}, "
                f"not {content_type!r}."
            )

    def run(self, content_id: int, content_type: str) -> dict:
        if content_type not in CONTENT_TYPES:  # a message sent around enqueue: fail, no retry
            raise ValueError(f"content_type must be one of {', '.join(CONTENT_TYPES)}.")
        if content_type == "comment":  # a deleted comment: discarded (ObjectDoesNotExist)
            content_id = Comment.objects.values_list("post_id", flat=True).get(pk=content_id)
        return services.index_post(post_id=content_id).as_dict()


@register
class SearchSweepJob(ApplicationJob):
    """Every minute (beat): index what a lost message left dirty, and rows of an older
    INDEX_VERSION, so bumping the version reindexes everything in the background."""

    queue = "search"
    max_attempts = 1  # the next beat is the retry

    def run(self, batch_size: int = services.SWEEP_BATCH, time_budget: float = 50.0) -> dict:
        return {"indexed": services.sweep(batch_size=batch_size, time_budget=time_budget)}
