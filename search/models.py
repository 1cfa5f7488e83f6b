"""The search index: one row per thread (post), owned by this app.

The row holds a weighted tsvector of the thread (title A, board B, body C, visible comments
D), the columns the search filters on, and the bookkeeping that keeps it fresh: `dirty` is
set in the transaction that changes the content and cleared by the run that indexes it;
`version` below INDEX_VERSION marks rows the periodic sweep rebuilds.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models

from forum.models import Post

# Bump when the vector's recipe changes (weights, configs, caps): the sweep then rebuilds
# every row in the background while search keeps serving the old vectors.
INDEX_VERSION = 1


class PostSearchIndex(models.Model):
    # Deleting a post (or its author) deletes its row through the cascade.
    post = models.OneToOneField(Post, on_delete=models.CASCADE, primary_key=True)
    board_id = models.BigIntegerField(null=True)
    author_id = models.BigIntegerField(null=True)
    created_at = models.DateTimeField(null=True)
    # NULL while not yet indexed and while the post is hidden: NULL never matches.
    vector = SearchVectorField(null=True)
    dirty = models.BooleanField(default=True)
    version = models.PositiveSmallIntegerField(default=0)
    indexed_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            GinIndex(fields=["vector"], name="search_vector_gin"),
            models.Index(models.F("created_at").desc(), name="search_created_idx"),
            models.Index("board_id", "post", name="search_board_idx"),
            models.Index("author_id", "post", name="search_author_idx"),
            # What the sweep looks for: tiny, except right after INDEX_VERSION is bumped
            # (makemigrations then rebuilds it with the new number).
            models.Index(
                "post",
                name="search_pending_idx",
                condition=models.Q(dirty=True) | models.Q(version__lt=INDEX_VERSION),
            ),
        ]

    def __str__(self) -> str:
        return f"search index of post {self.post_id}"


class ReindexCheckpoint(models.Model):
    """Where an interrupted `manage.py search reindex` resumes: one row per scope."""

    scope = models.CharField(max_length=100, unique=True, help_text="board slug, or '' for all")
    last_post_id = models.BigIntegerField(default=0)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"reindex {self.scope or 'all'} after post {self.last_post_id}"
