"""Writes to one thread, and the search indexing they cause, at the same moment: every path
locks the post row first (forum.services' docstring), so none waits for another in a circle
and PostgreSQL never kills a member's request as a deadlock (issue 15)."""

import sys
import threading
from collections import Counter

import pytest
from django.core.signals import got_request_exception
from django.db import connection
from django.test import Client
from django.urls import reverse

from forum import services
from forum.models import Board, Post
from search import services as search
from search.models import PostSearchIndex
from tests.forum.factories import BoardFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PAIRS = 40


def test_deleting_posts_while_members_comment_like_and_edit_and_indexing_runs_fails_nobody():
    board = BoardFactory()
    author, commenter, liker = UserFactory(), UserFactory(), UserFactory()
    topics = []
    for n in range(PAIRS):
        post = services.post_create(author=author, board=board, title=f"Topic {n}", body="Hi")
        earlier = services.comment_create(post=post, author=commenter, body="First!")
        services.comment_like(comment=earlier, user=author)
        topics.append((post, earlier))
    # A client per action: a test Client serves one request at a time.
    deleter, writer, editor, fan = (logged_in(m) for m in (author, commenter, commenter, liker))
    outcomes: Counter = Counter()
    got_request_exception.connect(count_error_behind_page, dispatch_uid="locking-test")
    sweeping = threading.Event()
    sweeper = threading.Thread(target=sweep_until, args=(sweeping, outcomes))
    sweeper.start()
    try:
        for post, earlier in topics:
            at_once(outcomes, **actions_on(post, earlier, deleter, writer, editor, fan))
    finally:
        sweeping.set()
        sweeper.join()
        got_request_exception.disconnect(dispatch_uid="locking-test")

    # Each delete went through; each other write landed before it or found the post gone.
    assert outcomes["delete 302"] == PAIRS, (outcomes, ERRORS_BEHIND_PAGES)
    for action in ("comment", "edit", "like"):
        assert outcomes[f"{action} 302"] + outcomes[f"{action} 404"] == PAIRS, outcomes
    assert outcomes["index ok"] == PAIRS, outcomes
    assert not [outcome for outcome in outcomes if "Error" in outcome], outcomes
    assert not ERRORS_BEHIND_PAGES, ERRORS_BEHIND_PAGES
    assert not Post.objects.exists()
    assert not PostSearchIndex.objects.exists()
    assert Board.objects.get(pk=board.pk).post_count == 0


def actions_on(post, earlier, deleter, writer, editor, fan) -> dict:
    """What members and the indexing job do to one thread at the same moment: its author
    deletes it, a member comments and edits the earlier comment, another likes that."""
    return {
        "delete": lambda: deleter.post(reverse("forum:post_delete", args=[post.pk])),
        "comment": lambda: writer.post(
            reverse("forum:comment_create", args=[post.pk]), {"body": "Wait o!"}
        ),
        "edit": lambda: editor.post(
            reverse("forum:comment_edit", args=[earlier.pk]), {"body": "Second!"}
        ),
        "like": lambda: fan.post(reverse("forum:comment_like", args=[earlier.pk])),
        "index": lambda: [search.index_post(post_id=post.pk) for _ in range(3)],
    }


ERRORS_BEHIND_PAGES: Counter = Counter()


def count_error_behind_page(sender, request, **kwargs) -> None:
    """What made a 500 or 503 page (shown when the test fails): runs in the request's
    thread, inside the handler's except block."""
    error = sys.exc_info()[1]
    ERRORS_BEHIND_PAGES[f"{request.path.split('/')[-2]}: {error!r:.200}"] += 1


def logged_in(member) -> Client:
    client = Client(raise_request_exception=False)  # a 500 or 503 is an outcome, not a raise
    client.force_login(member)
    return client


def at_once(outcomes: Counter, **actions) -> None:
    """Run the actions in threads of their own (each its own database connection), released
    together; count "<name> <status code>", "<name> ok" or "<name> <error class>"."""
    start = threading.Barrier(len(actions))

    def run(name, action):
        try:
            start.wait()
            result = action()
            outcomes[f"{name} {getattr(result, 'status_code', 'ok')}"] += 1
        except Exception as error:
            outcomes[f"{name} {type(error).__name__}"] += 1
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=item) for item in actions.items()]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def sweep_until(stop: threading.Event, outcomes: Counter) -> None:
    """The periodic sweep, over and over, beside the writes."""
    try:
        while not stop.is_set():
            try:
                search.sweep(time_budget=1.0)
            except Exception as error:
                outcomes[f"sweep {type(error).__name__}"] += 1
    finally:
        connection.close()
