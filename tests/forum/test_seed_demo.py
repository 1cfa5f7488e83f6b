from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from forum.markdown import render_markdown
from forum.models import Board, Comment, Post, PostLike, User

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_seed_demo_is_idempotent_tops_up_and_keeps_counters_true():
    seed("--users", "20", "--posts", "200", "--comments", "600")
    first = (
        User.objects.count(),
        Post.objects.count(),
        Comment.objects.count(),
        PostLike.objects.count(),
    )
    assert first == (20, 200, 600, 600)
    seed("--users", "20", "--posts", "200", "--comments", "600")
    assert (
        User.objects.count(),
        Post.objects.count(),
        Comment.objects.count(),
        PostLike.objects.count(),
    ) == first
    seed("--users", "25", "--posts", "250", "--comments", "700")
    assert (User.objects.count(), Post.objects.count(), Comment.objects.count()) == (25, 250, 700)

    for post in Post.objects.annotate(
        n_comments=Count("comments", distinct=True), n_likes=Count("likes", distinct=True)
    ):
        assert (post.comment_count, post.like_count) == (post.n_comments, post.n_likes)
    for board in Board.objects.annotate(n=Count("posts")):
        assert board.post_count == board.n
    assert Board.objects.filter(slug="politics").exists()
    for post in Post.objects.order_by("?")[:20]:
        assert post.body_html == render_markdown(post.body)  # what the forum itself would store


def test_seed_demo_if_empty_and_bad_numbers():
    seed("--users", "2", "--posts", "3", "--comments", "0")
    assert "already has posts" in seed("--if-empty")
    with pytest.raises(CommandError, match="--posts must be a positive number"):
        seed("--posts", "-1")
    with pytest.raises(CommandError, match="Posts need authors"):
        seed("--users", "0", "--posts", "5")
