import pytest

from forum import services as forum
from jobs.models import Job
from search import services
from search.models import INDEX_VERSION, PostSearchIndex, ReindexCheckpoint
from tests.forum.factories import BoardFactory, PostFactory
from tests.search.helpers import found, index_pending, make_post

pytestmark = pytest.mark.django_db


def index_jobs(post) -> list[Job]:
    return list(Job.objects.filter(class_name="ContentIndexingJob", args=[post.pk, "post"]))


def test_a_new_post_is_searchable_once_its_job_runs(user, board):
    post = make_post(author=user, board=board, title="Dangote refinery news")
    assert found("dangote") == []  # not indexed before its job runs
    (job,) = index_jobs(post)
    assert job.queue == "search"
    assert services.index_post(post_id=post.pk).indexed
    assert found("dangote") == [post.pk]


def test_a_burst_of_edits_enqueues_one_job(user, board):
    post = make_post(author=user, board=board, title="Draft")
    for n in range(10):
        forum.post_update(post=post, editor=user, title=f"Draft {n}", body=f"Version {n}")
        forum.comment_create(post=post, author=user, body=f"Comment {n}")
    assert len(index_jobs(post)) == 1
    outcome = services.index_post(post_id=post.pk)
    assert outcome.indexed
    assert found("version") == [post.pk] and found("comment") == [post.pk]
    # the run cleared the flag: a second delivery of the same job does nothing
    assert services.index_post(post_id=post.pk).reason == "already indexed by an earlier run"


def test_an_edit_soon_after_a_run_waits_for_the_interval(user, board):
    post = make_post(author=user, board=board, title="Breaking")
    services.index_post(post_id=post.pk)
    forum.post_update(post=post, editor=user, title="Breaking, updated", body="More")
    first, second = sorted(index_jobs(post), key=lambda job: job.scheduled_at)
    assert first.state == "ready"
    assert second.state == "scheduled"  # at most one run a second per thread
    assert 0 < (second.scheduled_at - first.scheduled_at).total_seconds() <= 1.5


def test_the_sweep_indexes_what_a_lost_message_left_dirty(user, board):
    post = make_post(author=user, board=board, title="Lost message about garri")
    Job.objects.all().delete()  # the job never reaches a worker
    assert found("garri") == []
    assert services.sweep() == 1
    assert found("garri") == [post.pk]
    assert services.sweep() == 0


def test_the_sweep_indexes_bulk_loaded_posts(board):
    posts = PostFactory.create_batch(5, board=board, title="Seeded akara")  # no index rows
    assert found("akara") == []
    assert services.sweep(batch_size=2) == 5
    assert set(found("akara")) == {post.pk for post in posts}


def test_an_old_index_version_is_rebuilt_by_the_sweep(user, board):
    posts = [make_post(author=user, board=board, title=f"Harmattan {n}") for n in range(5)]
    index_pending()
    PostSearchIndex.objects.update(version=INDEX_VERSION - 1, vector=None)
    assert found("harmattan") == []
    assert services.sweep(batch_size=2) == 5  # in batches, until none is left
    assert set(found("harmattan")) == {post.pk for post in posts}
    assert not PostSearchIndex.objects.exclude(version=INDEX_VERSION).exists()


def test_reindex_builds_rows_for_posts_it_never_saw_and_resumes(user, board):
    other = BoardFactory()
    posts = PostFactory.create_batch(5, board=board, title="Egusi soup recipe")
    elsewhere = PostFactory(board=other, title="Egusi elsewhere")
    assert found("egusi") == []  # rows written without the services: no index rows

    batches = services.reindex(batch_size=2)
    assert next(batches) == 2
    batches.close()  # interrupted after one batch
    plan = services.reindex_plan()
    assert plan.resumed and plan.resume_after == posts[1].pk and plan.total == 4
    assert sum(services.reindex(batch_size=2, resume_after=plan.resume_after)) == 4
    assert not ReindexCheckpoint.objects.exists()
    assert set(found("egusi")) == {p.pk for p in [*posts, elsewhere]}

    PostSearchIndex.objects.update(vector=None)
    assert sum(services.reindex(board=other)) == 1
    assert found("egusi") == [elsewhere.pk]


def test_reindex_leaves_a_pending_edit_dirty_for_its_own_job(user, board):
    post = make_post(author=user, board=board, title="Pending")
    sum(services.reindex())
    assert PostSearchIndex.objects.get(post=post).dirty
