"""Every read the forum's pages make. Hidden content is visible to staff only."""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from forum.models import Board, Comment, CommentLike, Post, PostLike, Section, User


def section_list() -> QuerySet[Section]:
    """Sections with their boards, for the index page (two queries)."""
    return Section.objects.prefetch_related(
        Prefetch("boards", queryset=Board.objects.order_by("position", "name"))
    )


def board_posts_page(*, board: Board, viewer: User, page: str | int | None) -> Page:
    posts = visible_posts(viewer).filter(board=board).select_related("author")
    posts = posts.order_by("-last_activity_at", "-id")
    return Paginator(posts, settings.FORUM_POSTS_PER_PAGE).get_page(page)


def post_for_viewer(*, post_id: int, viewer: User) -> Post:
    return get_object_or_404(visible_posts(viewer).select_related("board", "author"), pk=post_id)


def post_comments_page(*, post: Post, viewer: User, page: str | int | None) -> Page:
    comments = visible_comments(viewer).filter(post=post).select_related("author")
    return Paginator(
        comments.order_by("created_at", "id"), settings.FORUM_COMMENTS_PER_PAGE
    ).get_page(page)


def liked_post_ids(*, user: User, post_ids: list[int]) -> set[int]:
    if not user.is_authenticated or not post_ids:
        return set()
    return set(
        PostLike.objects.filter(user=user, post_id__in=post_ids).values_list("post_id", flat=True)
    )


def liked_comment_ids(*, user: User, comment_ids: list[int]) -> set[int]:
    if not user.is_authenticated or not comment_ids:
        return set()
    return set(
        CommentLike.objects.filter(user=user, comment_id__in=comment_ids).values_list(
            "comment_id", flat=True
        )
    )


def user_posts_page(*, author: User, viewer: User, page: str | int | None) -> Page:
    posts = visible_posts(viewer).filter(author=author).select_related("board")
    return Paginator(posts.order_by("-created_at", "-id"), settings.FORUM_POSTS_PER_PAGE).get_page(
        page
    )


def visible_posts(viewer: User) -> QuerySet[Post]:
    posts = Post.objects.all()
    return posts if viewer.is_staff else posts.filter(is_hidden=False)


def visible_comments(viewer: User) -> QuerySet[Comment]:
    comments = Comment.objects.all()
    return comments if viewer.is_staff else comments.filter(is_hidden=False)
