"""Every read the forum's pages make. Hidden content is visible only to those who may hide
it (sees_hidden)."""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.paginator import Page, Paginator
from django.db.models import Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404

from forum.models import Board, Comment, CommentLike, Post, PostLike, Section, User
from forum.permissions import can_hide


def section_list() -> QuerySet[Section]:
    """Sections with their boards, for the index page (two queries)."""
    return Section.objects.prefetch_related(
        Prefetch("boards", queryset=Board.objects.order_by("position", "name"))
    )


AUTHOR_FIELDS = ("author__username", "author__display_name")


def board_posts_page(*, board: Board, viewer: User | AnonymousUser, page: str | int | None) -> Page:
    posts = visible_posts(viewer).filter(board=board).select_related("author")
    posts = posts.only(
        "title",
        "author",
        "board",
        "comment_count",
        "like_count",
        "last_activity_at",
        "is_hidden",
        *AUTHOR_FIELDS,
    ).order_by("-last_activity_at", "-id")
    count = None if sees_hidden(viewer) else board.post_count
    return _page(posts, settings.FORUM_POSTS_PER_PAGE, page, count=count)


def post_for_viewer(*, post_id: int, viewer: User | AnonymousUser) -> Post:
    return get_object_or_404(visible_posts(viewer).select_related("board", "author"), pk=post_id)


def post_comments_page(*, post: Post, viewer: User | AnonymousUser, page: str | int | None) -> Page:
    comments = visible_comments(viewer).filter(post=post).select_related("author")
    comments = comments.only(
        "post", "author", "body_html", "created_at", "like_count", "is_hidden", *AUTHOR_FIELDS
    ).order_by("created_at", "id")
    count = None if sees_hidden(viewer) else post.comment_count
    return _page(comments, settings.FORUM_COMMENTS_PER_PAGE, page, count=count)


def comment_page_number(*, comment: Comment, viewer: User | AnonymousUser) -> int:
    """The page of post_comments_page that shows `comment` to `viewer`: counts the comments
    before it in the page order (those who see hidden comments count them too)."""
    before = visible_comments(viewer).filter(post_id=comment.post_id)
    before = before.filter(
        Q(created_at__lt=comment.created_at) | Q(created_at=comment.created_at, pk__lt=comment.pk)
    )
    return before.count() // settings.FORUM_COMMENTS_PER_PAGE + 1


def liked_post_ids(*, user: User | AnonymousUser, post_ids: list[int]) -> set[int]:
    if not user.is_authenticated or not post_ids:
        return set()
    return set(
        PostLike.objects.filter(user=user, post_id__in=post_ids).values_list("post_id", flat=True)
    )


def liked_comment_ids(*, user: User | AnonymousUser, comment_ids: list[int]) -> set[int]:
    if not user.is_authenticated or not comment_ids:
        return set()
    return set(
        CommentLike.objects.filter(user=user, comment_id__in=comment_ids).values_list(
            "comment_id", flat=True
        )
    )


def user_posts_page(*, author: User, viewer: User | AnonymousUser, page: str | int | None) -> Page:
    posts = visible_posts(viewer).filter(author=author).select_related("board")
    return Paginator(posts.order_by("-created_at", "-id"), settings.FORUM_POSTS_PER_PAGE).get_page(
        page
    )


def _page(items: QuerySet, per_page: int, number: str | int | None, *, count: int | None) -> Page:
    """A page of `items`. `count`, when given, is the denormalised counter of what a member
    can see: it spares the page a COUNT(*) over the whole board or thread."""
    paginator = Paginator(items, per_page)
    if count is not None:
        paginator.count = count  # a cached_property: set, it is never computed
    if number == "last":  # get_page reads any word as page 1
        number = paginator.num_pages
    return paginator.get_page(number)


def sees_hidden(viewer: User | AnonymousUser) -> bool:
    """Whether `viewer` may see hidden (moderated) content: whoever may hide it
    (forum.permissions.can_hide), so that they can judge it and unhide it. The one question
    pages, reports and notifications ask; search shows hidden content to nobody."""
    return can_hide(viewer)


def visible_posts(viewer: User | AnonymousUser) -> QuerySet[Post]:
    posts = Post.objects.all()
    return posts if sees_hidden(viewer) else posts.filter(is_hidden=False)


def visible_comments(viewer: User | AnonymousUser) -> QuerySet[Comment]:
    comments = Comment.objects.all()
    return comments if sees_hidden(viewer) else comments.filter(is_hidden=False)


def typed_name(text: str) -> str:
    """A username or email address as a member typed it, compared as stored: NFKC (full-width
    letters, "＠" and "﹫" become plain ones, odd spaces become spaces), stripped."""
    return unicodedata.normalize("NFKC", text).strip()


def member_for_login(*, name: str) -> User | None:
    """The member a login form's `name` means. A name with "@" is the owner of that email
    address first: usernames could contain "@" before issue 15, and one equal to another
    member's address must not take that member's login. Else the member with that username
    (a name with "@" kept from before, too)."""
    name = typed_name(name)
    if "\x00" in name:  # PostgreSQL refuses NUL in text, and no name holds one
        return None
    if "@" in name and (owner := User.objects.filter(email__iexact=name).first()):
        return owner
    return User.objects.filter(username=name).first()


def member_ids_named(*, name: str) -> list[int]:
    """The members whose username or email address is `name`, ignoring case: whom a login
    attempt or a rate limit means (forum.ratelimit)."""
    members = User.objects.filter(Q(username__iexact=name) | Q(email__iexact=name))
    return list(members.values_list("pk", flat=True)[:2])
