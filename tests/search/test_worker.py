"""Search freshness through a real Celery worker (and the dispatcher, for delayed runs)."""

import math
import time

import pytest
from django.db import connection
from django.utils import timezone

from forum import services as forum
from jobs.models import Job
from search.tasks import SearchSweepJob
from tests.jobs.helpers import wait_for, wait_for_state
from tests.search.helpers import found, make_post

pytestmark = pytest.mark.worker


@pytest.fixture
def search_worker(processes):
    processes.dispatcher()
    return processes.worker(queues="search")


def test_a_new_post_becomes_searchable(search_worker, user, board):
    post = make_post(author=user, board=board, title="Fresh jollof rice recipe")
    wait_for(lambda: found("jollof") == [post.pk], timeout=10, message="the post in results")


def test_an_edit_replaces_old_words_and_a_delete_removes_the_post(search_worker, user, board):
    post = make_post(author=user, board=board, title="Selling my Corolla")
    wait_for(lambda: found("corolla") == [post.pk], timeout=10, message="first version")
    forum.post_update(post=post, editor=user, title="Selling my Camry", body="Clean car")
    wait_for(lambda: found("camry") == [post.pk], timeout=10, message="the edit")
    assert found("corolla") == []
    forum.post_delete(post=post, actor=user)
    assert found("camry") == []


def test_ten_edits_in_a_second_cost_at_most_two_index_runs(search_worker, user, board):
    post = make_post(author=user, board=board, title="Live score")
    wait_for(lambda: found("live score") == [post.pk], timeout=10, message="the post")
    burst_start, started = timezone.now(), time.monotonic()
    for minute in range(1, 11):
        forum.post_update(post=post, editor=user, title="Live score", body=f"Goal minute{minute}")
        time.sleep(0.09)
    took = time.monotonic() - started  # about 1 s; longer on a loaded machine
    wait_for(lambda: found("minute10") == [post.pk], timeout=10, message="the last edit")
    runs = Job.objects.filter(class_name="ContentIndexingJob", created_at__gte=burst_start)
    # A thread is indexed at most once a second: the first edit's run, then one per second
    # the edits went on (two when they took a second; more if a loaded machine slowed them).
    most = 1 + math.ceil(took)
    assert 1 <= runs.count() <= most, list(runs.values_list("state", "scheduled_at"))
    assert found("minute9") == []


def test_the_sweep_indexes_a_post_whose_message_was_lost(search_worker, user, board):
    post = make_post(author=user, board=board, title="Lost in transit")
    wait_for(lambda: found("transit") == [post.pk], timeout=10, message="the post")
    with connection.cursor() as cursor:  # an edit whose job never reached Redis
        cursor.execute(
            "UPDATE forum_post SET title = 'Found by the sweep' WHERE id = %s", [post.pk]
        )
        cursor.execute(
            "UPDATE search_postsearchindex SET dirty = true WHERE post_id = %s", [post.pk]
        )
    time.sleep(1)
    assert found("sweep") == []
    job = wait_for_state(SearchSweepJob.delay().id, "finished", timeout=15)
    assert job.state == "finished"
    assert found("sweep") == [post.pk]
