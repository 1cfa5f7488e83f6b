"""No N+1: each page makes the same number of queries with few rows or many."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from forum import services
from tests.forum.factories import CommentFactory, PostFactory, UserFactory

pytestmark = pytest.mark.django_db


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("logged_in", [False, True])
def test_board_and_post_page_query_counts_do_not_grow_with_rows(client, board, logged_in):
    viewer = UserFactory()
    if logged_in:
        client.force_login(viewer)
    post = PostFactory(board=board)
    CommentFactory(post=post)
    counts_small = [
        count_queries(client, u) for u in ("/", board.get_absolute_url(), post.get_absolute_url())
    ]
    for _ in range(20):
        PostFactory(board=board)  # a new author each time
        comment = CommentFactory(post=post)
        services.comment_like(comment=comment, user=viewer)
    counts_big = [
        count_queries(client, u) for u in ("/", board.get_absolute_url(), post.get_absolute_url())
    ]
    assert counts_small == counts_big
