"""Users, sections, boards, posts (threads), comments and likes.

Counters (`post_count`, `comment_count`, `like_count`) are denormalised for cheap list pages
and are only ever changed by `forum.services`, inside the same transaction as the row they
count. They count what a non-staff reader can see: hidden content is not counted.
"""

from functools import cache
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone


class User(AbstractUser):
    email = models.EmailField("email address", unique=True)
    display_name = models.CharField(max_length=50, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="forum_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def name(self) -> str:
        return self.display_name or self.username

    def get_absolute_url(self) -> str:
        return url_template("forum:profile", "placeholder-name").format(quote(self.username))


@cache
def url_template(view_name: str, placeholder: str | int) -> str:
    """The URL of a one-argument view with `{}` for the argument: list pages link dozens of
    posts and authors, and one reverse() each costs a tenth of their render time."""
    return reverse(view_name, args=[placeholder]).replace(str(placeholder), "{}")


class Section(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Board(models.Model):
    section = models.ForeignKey(Section, on_delete=models.PROTECT, related_name="boards")
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.CharField(max_length=255, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    post_count = models.PositiveIntegerField(default=0)
    last_activity_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["section__position", "position", "name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return url_template("forum:board", "placeholder-slug").format(self.slug)


class Post(models.Model):
    """A thread: the opening post of a board topic."""

    board = models.ForeignKey(Board, on_delete=models.PROTECT, related_name="posts")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts"
    )
    title = models.CharField(max_length=settings.FORUM_TITLE_MAX_LENGTH)
    body = models.TextField()
    body_html = models.TextField(help_text="Sanitised HTML rendered from the Markdown body.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)
    comment_count = models.PositiveIntegerField(default=0)
    like_count = models.PositiveIntegerField(default=0)
    is_hidden = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(
                "board",
                models.F("last_activity_at").desc(),
                models.F("id").desc(),
                name="post_board_activity_idx",
                condition=models.Q(is_hidden=False),
            ),
            models.Index("author", models.F("created_at").desc(), name="post_author_created_idx"),
        ]
        # One permission for hiding posts and comments: whoever may hide content sees it.
        permissions = [
            ("hide_content", "Can hide and unhide posts and comments, and see hidden ones")
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return url_template("forum:post", 987654321).format(self.pk)


class Comment(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments"
    )
    body = models.TextField()
    body_html = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    like_count = models.PositiveIntegerField(default=0)
    is_hidden = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index("post", "created_at", "id", name="comment_post_created_idx")]

    def __str__(self) -> str:
        return f"Comment {self.pk} on {self.post_id}"

    def get_absolute_url(self) -> str:
        return f"{self.post.get_absolute_url()}#comment-{self.pk}"


class PostLike(models.Model):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="likes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["post", "user"], name="postlike_once_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} likes post {self.post_id}"


class CommentLike(models.Model):
    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="likes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["comment", "user"], name="commentlike_once_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} likes comment {self.comment_id}"
