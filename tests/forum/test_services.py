import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from forum import services
from forum.models import Board, Comment, Post, PostLike, User
from tests.forum.factories import CommentFactory, PostFactory, UserFactory

pytestmark = pytest.mark.django_db


def refresh(obj):
    obj.refresh_from_db()
    return obj


def test_post_create_renders_markdown_and_counts_on_the_board(user, board):
    post = services.post_create(
        author=user, board=board, title="  Fuel   scarcity ", body="**Abeg** help"
    )
    assert post.title == "Fuel scarcity"
    assert post.body_html == "<p><strong>Abeg</strong> help</p>"
    assert refresh(board).post_count == 1
    assert board.last_activity_at == post.created_at


@pytest.mark.parametrize(
    ("title", "body", "message"),
    [
        ("", "body", "Give your post a title"),
        ("   ", "body", "Give your post a title"),
        ("x" * 151, "body", "at most 150 characters"),
        ("Title", "  \n ", "cannot be empty"),
        ("Title", "b" * 20_001, "at most 20,000 characters"),
    ],
)
def test_post_create_rejects_bad_input_and_saves_nothing(user, board, title, body, message):
    with pytest.raises(ValidationError, match=message):
        services.post_create(author=user, board=board, title=title, body=body)
    assert not Post.objects.exists()
    assert refresh(board).post_count == 0


def test_only_the_author_edits_and_the_author_or_an_admin_deletes(
    user, other_user, staff, moderator, admin, board
):
    post = services.post_create(author=user, board=board, title="Mine", body="text")
    with pytest.raises(PermissionDenied):
        services.post_update(post=post, editor=other_user, title="Hacked", body="x")
    for not_allowed in (other_user, staff, moderator):  # moderators hide instead
        with pytest.raises(PermissionDenied, match="moderators can hide it"):
            services.post_delete(post=post, actor=not_allowed)
    assert refresh(post).title == "Mine"
    services.post_delete(post=post, actor=admin)
    assert not Post.objects.exists()
    assert refresh(board).post_count == 0


def test_comments_keep_the_post_counter_and_activity_right(user, other_user, board):
    post = services.post_create(author=user, board=board, title="Jollof", body="Whose is best?")
    first = services.comment_create(post=post, author=other_user, body="Naija own")
    services.comment_create(post=post, author=user, body="Ghana no fit")
    post = refresh(post)
    assert post.comment_count == 2
    assert post.last_activity_at >= first.created_at
    services.comment_delete(comment=first, actor=other_user)
    assert refresh(post).comment_count == 1


def test_double_like_stays_one_like_and_unlike_removes_it(user, other_user, board):
    post = services.post_create(author=user, board=board, title="Like me", body="x")
    assert services.post_like(post=post, user=other_user) is True
    assert services.post_like(post=post, user=other_user) is False
    assert refresh(post).like_count == 1
    assert PostLike.objects.count() == 1
    assert services.post_unlike(post=post, user=other_user) is True
    assert services.post_unlike(post=post, user=other_user) is False
    assert refresh(post).like_count == 0


def test_comment_likes_count_once_per_user(user, other_user):
    comment = CommentFactory()
    services.comment_like(comment=comment, user=user)
    services.comment_like(comment=comment, user=user)
    services.comment_like(comment=comment, user=other_user)
    assert refresh(comment).like_count == 2
    services.comment_unlike(comment=comment, user=user)
    assert refresh(comment).like_count == 1


def test_hiding_needs_the_moderators_permission_and_keeps_counters_to_visible_content(
    user, staff, moderator, board
):
    post = services.post_create(author=user, board=board, title="Spam", body="buy now")
    comment = services.comment_create(post=post, author=user, body="more spam")
    for not_allowed in (user, staff):
        with pytest.raises(PermissionDenied, match="Moderators group"):
            services.post_set_hidden(post=post, moderator=not_allowed, hidden=True)
        with pytest.raises(PermissionDenied, match="Moderators group"):
            services.comment_set_hidden(comment=comment, moderator=not_allowed, hidden=True)
    assert not refresh(post).is_hidden and not refresh(comment).is_hidden
    services.comment_set_hidden(comment=comment, moderator=moderator, hidden=True)
    services.comment_set_hidden(comment=comment, moderator=moderator, hidden=True)
    assert refresh(post).comment_count == 0
    services.post_set_hidden(post=post, moderator=moderator, hidden=True)
    assert refresh(board).post_count == 0
    services.post_set_hidden(post=post, moderator=moderator, hidden=False)
    services.comment_set_hidden(comment=comment, moderator=moderator, hidden=False)
    assert refresh(board).post_count == 1
    assert refresh(post).comment_count == 1


def test_only_moderators_can_comment_on_a_hidden_post(user, staff, moderator):
    post = PostFactory(is_hidden=True)
    for not_allowed in (user, staff):
        with pytest.raises(PermissionDenied):
            services.comment_create(post=post, author=not_allowed, body="hello")
    assert not Comment.objects.exists()
    services.comment_create(post=post, author=moderator, body="why this was hidden")


def test_user_create_validates_password_and_email(db):
    with pytest.raises(ValidationError):
        services.user_create(username="tunde", email="tunde@example.com", password="123")
    assert not User.objects.exists()
    user = services.user_create(
        username="tunde", email="Tunde@Example.COM", password="a-long-enough-passphrase"
    )
    assert user.email == "tunde@example.com"
    assert user.check_password("a-long-enough-passphrase")
    with pytest.raises(ValidationError, match="email"):
        services.user_create(username="tunde2", email="tunde@example.com", password="x" * 20)


def test_board_counter_survives_deleting_a_hidden_post(user, moderator, admin, board):
    post = services.post_create(author=user, board=board, title="t", body="b")
    services.post_set_hidden(post=post, moderator=moderator, hidden=True)
    services.post_delete(post=post, actor=admin)
    assert Board.objects.get(pk=board.pk).post_count == 0
    assert UserFactory()  # the user table is still usable after the cascade
