import pytest

from forum import services as forum
from jobs.models import Job
from search.tasks import ContentIndexingJob, SearchSweepJob
from tests.search.helpers import found, make_post

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("content_type", ["thread", "", None, "POST", 1])
def test_an_unknown_content_type_is_refused_at_enqueue(content_type):
    with pytest.raises(ValueError, match="content_type must be one of post, comment"):
        ContentIndexingJob.delay(1, content_type)
    assert not Job.objects.exists()


def test_a_comment_job_indexes_its_thread(user, board):
    post = make_post(author=user, board=board, title="Thread")
    comment = forum.comment_create(post=post, author=user, body="Ofada rice is the best")
    result = ContentIndexingJob(comment.pk, "comment")  # perform_now
    assert result == {"post_id": post.pk, "indexed": True, "reason": "indexed"}
    assert found("ofada") == [post.pk]


def test_a_job_for_a_deleted_post_records_why_it_skipped(user, board):
    post = make_post(author=user, board=board, title="Gone soon")
    forum.post_delete(post=post, actor=user)
    assert ContentIndexingJob(post.pk, "post")["reason"] == "post deleted"


def test_the_sweep_job_reports_what_it_indexed(user, board):
    make_post(author=user, board=board, title="Swept")
    assert SearchSweepJob() == {"indexed": 1}
    assert found("swept")


def test_the_sweep_runs_every_minute_from_beat():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="SearchSweepJob")
    assert task.enabled and (task.interval.every, task.interval.period) == (1, "minutes")
