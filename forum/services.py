"""Every write to the forum's tables. Views, admin and commands call these.

Each service validates its input (so a command or shell caller gets the same errors as the
browser), checks permissions, and keeps the denormalised counters right in one transaction,
run once more if PostgreSQL aborts it for a deadlock (config.transactions).

Lock order. Every write to a thread — its post, comments, likes and search index row —
locks the post row first (`_lock_post`): FOR UPDATE to delete the post, FOR NO KEY UPDATE
for anything else, so writes to one thread take turns. Only then: the comment row, the
board row, the thread's index row (search.services), the reports listing the post. The
indexing job and the sweep lock the post FOR KEY SHARE before the index row, so they run
beside comments and likes but never beside a delete.

Why the post must come first even where nothing else needs it: Django's foreign keys are
checked at commit (DEFERRABLE INITIALLY DEFERRED), and the check locks the referenced post
FOR KEY SHARE. Taken at commit, that lock came after the index row or comment the
transaction had already locked, while a delete holds the post and then deletes those rows:
a circle, and PostgreSQL killed one of the two (issue 15).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.shortcuts import get_object_or_404
from django.utils import timezone

from config.transactions import atomic_retrying
from forum.markdown import render_markdown
from forum.models import Board, Comment, CommentLike, Post, PostLike, User
from forum.permissions import can_delete, can_hide
from forum.validators import validate_username
from notifications import services as notifications
from reports import services as reports
from search import services as search


@atomic_retrying
def user_create(*, username: str, email: str, password: str, display_name: str = "") -> User:
    try:
        validate_username(username)
    except ValidationError as error:
        raise ValidationError({"username": error.messages}) from None
    user = User(username=username, email=User.objects.normalize_email(email).lower())
    user.display_name = display_name.strip()
    user.full_clean(exclude=["password"])
    password_validation.validate_password(password, user)
    user.set_password(password)
    user.save()
    notifications.notify_signed_up(user=user)
    return user


@atomic_retrying
def user_change_email(*, user: User, new_email: str, password: str) -> User:
    """Change the address after checking the password; the old address is told."""
    if not user.check_password(password):
        raise ValidationError({"password": "That is not your current password."})
    old_email, new_email = user.email, User.objects.normalize_email(new_email).strip().lower()
    if new_email == old_email:
        raise ValidationError({"email": "That is already your email address."})
    if User.objects.filter(email__iexact=new_email).exclude(pk=user.pk).exists():
        raise ValidationError({"email": "Another account uses this email address."})
    user.email = new_email
    user.full_clean(exclude=["password"])
    user.save(update_fields=["email"])
    notifications.notify_security_event(
        user=user, event="email_changed", old_email=old_email, new_email=new_email
    )
    return user


@atomic_retrying
def post_create(*, author: User, board: Board, title: str, body: str) -> Post:
    title, body = _clean_title(title), _clean_body(body, settings.FORUM_POST_BODY_MAX_LENGTH)
    now = timezone.now()
    post = Post.objects.create(
        board=board,
        author=author,
        title=title,
        body=body,
        body_html=render_markdown(body),
        created_at=now,
        updated_at=now,
        last_activity_at=now,
    )
    Board.objects.filter(pk=board.pk).update(post_count=F("post_count") + 1, last_activity_at=now)
    search.post_changed(post=post)
    return post


@atomic_retrying
def post_update(*, post: Post, editor: User, title: str, body: str) -> Post:
    _require_author(post, editor)
    post = _lock_post(post.pk)
    post.title = _clean_title(title)
    post.body = _clean_body(body, settings.FORUM_POST_BODY_MAX_LENGTH)
    post.body_html = render_markdown(post.body)
    post.updated_at = timezone.now()
    post.save(update_fields=["title", "body", "body_html", "updated_at"])
    search.post_changed(post=post)
    return post


@atomic_retrying
def post_delete(*, post: Post, actor: User) -> None:
    _require_delete(post, actor)
    post = _lock_post(post.pk, delete=True)
    if not post.is_hidden:
        Board.objects.filter(pk=post.board_id).update(post_count=F("post_count") - 1)
    reports.withdraw_post(post_id=post.pk)
    post.delete()


@atomic_retrying
def post_set_hidden(*, post: Post, moderator: User, hidden: bool) -> Post:
    _require_hide(moderator)
    post = _lock_post(post.pk)
    if post.is_hidden != hidden:
        post.is_hidden = hidden
        post.save(update_fields=["is_hidden"])
        delta = -1 if hidden else 1
        Board.objects.filter(pk=post.board_id).update(post_count=F("post_count") + delta)
        search.post_changed(post=post)
        if hidden:
            reports.withdraw_post(post_id=post.pk)
    return post


@atomic_retrying
def comment_create(*, post: Post, author: User, body: str) -> Comment:
    post = _lock_post(post.pk)
    if post.is_hidden and not can_hide(author):
        raise PermissionDenied("This post has been hidden by a moderator.")
    body = _clean_body(body, settings.FORUM_COMMENT_BODY_MAX_LENGTH)
    now = timezone.now()
    comment = Comment.objects.create(
        post=post,
        author=author,
        body=body,
        body_html=render_markdown(body),
        created_at=now,
        updated_at=now,
    )
    Post.objects.filter(pk=post.pk).update(
        comment_count=F("comment_count") + 1, last_activity_at=now
    )
    Board.objects.filter(pk=post.board_id).update(last_activity_at=now)
    search.comment_changed(comment=comment)
    notifications.notify_new_comment(comment=comment, post=post)
    return comment


@atomic_retrying
def comment_update(*, comment: Comment, editor: User, body: str) -> Comment:
    _require_author(comment, editor)
    comment = _lock_comment(comment)
    comment.body = _clean_body(body, settings.FORUM_COMMENT_BODY_MAX_LENGTH)
    comment.body_html = render_markdown(comment.body)
    comment.updated_at = timezone.now()
    comment.save(update_fields=["body", "body_html", "updated_at"])
    search.comment_changed(comment=comment)
    return comment


@atomic_retrying
def comment_delete(*, comment: Comment, actor: User) -> None:
    _require_delete(comment, actor)
    comment = _lock_comment(comment)
    if not comment.is_hidden:
        Post.objects.filter(pk=comment.post_id).update(comment_count=F("comment_count") - 1)
    comment.delete()
    search.comment_changed(comment=comment, deleted=True)


@atomic_retrying
def comment_set_hidden(*, comment: Comment, moderator: User, hidden: bool) -> Comment:
    _require_hide(moderator)
    comment = _lock_comment(comment)
    if comment.is_hidden != hidden:
        comment.is_hidden = hidden
        comment.save(update_fields=["is_hidden"])
        delta = -1 if hidden else 1
        Post.objects.filter(pk=comment.post_id).update(comment_count=F("comment_count") + delta)
        search.comment_changed(comment=comment)
    return comment


@atomic_retrying
def post_like(*, post: Post, user: User) -> bool:
    """Like a post once; returns False when the user had already liked it."""
    post = _lock_post(post.pk)
    _, created = PostLike.objects.get_or_create(post=post, user=user)  # unique: one per user
    if created:
        Post.objects.filter(pk=post.pk).update(like_count=F("like_count") + 1)
        notifications.notify_liked(post=post, liker=user)
    return created


@atomic_retrying
def post_unlike(*, post: Post, user: User) -> bool:
    _lock_post(post.pk)
    deleted, _ = PostLike.objects.filter(post=post, user=user).delete()
    if deleted:
        Post.objects.filter(pk=post.pk).update(like_count=F("like_count") - 1)
    return bool(deleted)


@atomic_retrying
def comment_like(*, comment: Comment, user: User) -> bool:
    """Like a comment once; returns False when the user had already liked it."""
    comment = _lock_comment(comment)
    _, created = CommentLike.objects.get_or_create(comment=comment, user=user)
    if created:
        Comment.objects.filter(pk=comment.pk).update(like_count=F("like_count") + 1)
        notifications.notify_liked(post=comment.post, comment=comment, liker=user)
    return created


@atomic_retrying
def comment_unlike(*, comment: Comment, user: User) -> bool:
    _lock_comment(comment)
    deleted, _ = CommentLike.objects.filter(comment=comment, user=user).delete()
    if deleted:
        Comment.objects.filter(pk=comment.pk).update(like_count=F("like_count") - 1)
    return bool(deleted)


def _lock_post(post_id: int, *, delete: bool = False) -> Post:
    """The first lock of every write to a thread (the module docstring says why). A post
    deleted meanwhile is a 404, as the next page load would be."""
    return get_object_or_404(Post.objects.select_for_update(no_key=not delete), pk=post_id)


def _lock_comment(comment: Comment) -> Comment:
    """Lock the comment's post, then the comment: the one order."""
    post = _lock_post(comment.post_id)
    locked = get_object_or_404(Comment.objects.select_for_update(no_key=True), pk=comment.pk)
    locked.post = post
    return locked


def _clean_title(title: str) -> str:
    title = " ".join(title.split())
    limit = settings.FORUM_TITLE_MAX_LENGTH
    if not title:
        raise ValidationError({"title": "Give your post a title."})
    if len(title) > limit:
        raise ValidationError(
            {"title": f"Titles can be at most {limit} characters (this one has {len(title)})."}
        )
    return title


def _clean_body(body: str, limit: int) -> str:
    body = body.replace("\x00", "").strip()
    if not body:
        raise ValidationError({"body": "Write something first: the text cannot be empty."})
    if len(body) > limit:
        raise ValidationError(
            {"body": f"Text can be at most {limit:,} characters (this has {len(body):,})."}
        )
    return body


def _require_author(obj: Post | Comment, user: User) -> None:
    if obj.author_id != user.pk:
        raise PermissionDenied("Only the author can edit this.")


def _require_delete(obj: Post | Comment, user: User) -> None:
    if not can_delete(user, obj):
        raise PermissionDenied(
            "Only its author or an admin can delete this; moderators can hide it."
        )


def _require_hide(user: User) -> None:
    if not can_hide(user):
        raise PermissionDenied("Only moderators (the Moderators group) can hide or show content.")
