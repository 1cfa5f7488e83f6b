"""A small forum with known numbers, and report files kept in a private media folder."""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from forum.models import Board, Comment, CommentLike, Post, PostLike, User
from tests.forum.factories import BoardFactory, CommentFactory, PostFactory, UserFactory

LAGOS = ZoneInfo("Africa/Lagos")


def lagos(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026, Lagos time (UTC+1)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=LAGOS)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def reports_worker(processes, media):
    """The reports worker of docker-compose and make dev: the `reports` queue only."""
    return processes.worker(queues="reports", env={"MEDIA_ROOT": str(media)})


@dataclass
class Forum:
    ada: User
    bayo: User
    chi: User
    politics: Board
    tech: Board
    p1: Post
    p2: Post
    p3: Post
    old_post: Post
    c1: Comment


@pytest.fixture
def forum(db) -> Forum:
    """Activity on 10-11 November 2026 (Lagos), with rows just outside on both sides.

    p1 is written at 00:30 on the 10th in Lagos, still the 9th in UTC: it counts for the 10th.
    """
    ada = UserFactory(username="ada", date_joined=lagos(11, 9))
    bayo = UserFactory(username="bayo", date_joined=lagos(1, 9))
    chi = UserFactory(username="chi", date_joined=lagos(1, 9))
    politics = BoardFactory(name="Politics", slug="politics")
    tech = BoardFactory(name="Tech", slug="tech")
    p1 = PostFactory(author=ada, board=politics, title="Fuel price", created_at=lagos(10, 0, 30))
    p2 = PostFactory(author=ada, board=politics, title="Elections", created_at=lagos(11, 12))
    p3 = PostFactory(author=bayo, board=tech, title="Django or Laravel", created_at=lagos(11, 9))
    old_post = PostFactory(author=chi, board=tech, title="Old news", created_at=lagos(9, 23, 30))
    c1 = CommentFactory(author=bayo, post=p1, created_at=lagos(10, 10))
    CommentFactory(author=chi, post=p1, created_at=lagos(11, 10))
    CommentFactory(author=ada, post=p3, created_at=lagos(11, 11))
    CommentFactory(author=bayo, post=p2, created_at=lagos(12, 8))  # the day after
    PostLike.objects.create(user=bayo, post=p1, created_at=lagos(10, 11))
    PostLike.objects.create(user=chi, post=p1, created_at=lagos(11, 12))
    PostLike.objects.create(user=ada, post=old_post, created_at=lagos(10, 13))
    CommentLike.objects.create(user=ada, comment=c1, created_at=lagos(11, 14))
    return Forum(ada, bayo, chi, politics, tech, p1, p2, p3, old_post, c1)
