import pytest
from django.core.management import CommandError, call_command

from search.models import ReindexCheckpoint
from tests.forum.factories import PostFactory
from tests.search.helpers import found

pytestmark = pytest.mark.django_db(transaction=True)  # reindex threads commit


def test_reindex_makes_every_post_searchable(board, capsys):
    posts = PostFactory.create_batch(3, board=board, title="Akara and pap")
    call_command("search", "reindex", "--batch-size", "2")
    assert "Reindexed 3 posts" in capsys.readouterr().out
    assert set(found("akara")) == {p.pk for p in posts}


def test_reindex_of_one_board(board):
    mine = PostFactory(board=board, title="Moi moi")
    PostFactory(title="Moi moi elsewhere")
    call_command("search", "reindex", "--board", board.slug)
    assert found("moi") == [mine.pk]


def test_reindex_resumes_an_interrupted_run_unless_told_to_restart(board, capsys):
    posts = PostFactory.create_batch(3, board=board, title="Puff puff")
    ReindexCheckpoint.objects.create(
        scope="",
        last_post_id=posts[1].pk,
        started_at="2026-01-01T00:00Z",
        updated_at="2026-01-01T00:00Z",
    )
    call_command("search", "reindex")
    out = capsys.readouterr().out
    assert f"Resuming an interrupted reindex after post {posts[1].pk}" in out
    assert "Reindexed 1 posts" in out
    call_command("search", "reindex", "--restart")
    assert "Reindexed 3 posts" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--board", "no-such-board"], "No board with slug 'no-such-board'"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--workers", "0"], "--workers must be at least 1"),
    ],
)
def test_reindex_explains_bad_arguments(board, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("search", "reindex", *args)


@pytest.mark.parametrize("workers", ["1", "3"])
def test_reindex_gives_the_same_index_with_any_number_of_workers(board, capsys, workers):
    posts = PostFactory.create_batch(7, board=board, title="Zobo drink")
    call_command("search", "reindex", "--batch-size", "2", "--workers", workers)
    assert "Reindexed 7 posts" in capsys.readouterr().out
    assert set(found("zobo")) == {p.pk for p in posts}
    assert not ReindexCheckpoint.objects.exists()
