"""Every write to the search index. Forum services call `post_changed` / `comment_changed`
in their own transaction; ContentIndexingJob, the sweep and `manage.py search reindex` call
the rest.

Freshness without lost updates (Saleor's dirty flag, made race-free):

- A change sets `dirty` with an upsert that locks the index row even when it was already
  dirty, and enqueues ContentIndexingJob only on the clean→dirty transition: a burst of edits
  costs one job, not one per edit.
- An indexing run locks and clears `dirty` first, then reads the content in a new statement.
  An edit that committed before the lock is read; one that comes after sets `dirty` again and
  enqueues the next run. Nothing is lost if a message is: the sweep indexes dirty rows.
- Hiding or deleting content reindexes synchronously, so hidden words leave the index in the
  same commit that hides them.

Lock order (forum.services' docstring): the post row before its index row, everywhere. The
forum services lock the post before calling in here; the indexing job and the sweep lock it
FOR KEY SHARE first, which waits for a delete but not for comments or likes. Without it the
job's foreign-key check locked the post at commit, after the index row, and deadlocked with
a delete (which holds the post and then deletes the index row).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from forum.models import Board, Comment, Post
from search.models import INDEX_VERSION, ReindexCheckpoint

# A thread is indexed again at most once a second: edits in between coalesce into one run.
MIN_REINDEX_INTERVAL = 1.0
BODY_CHARS = 10_000  # indexed from each body: a tsvector is capped at 1 MB
COMMENTS_PER_THREAD = 200  # the first N visible comments feed the thread's vector...
COMMENT_CHARS = 20_000  # ...up to this many characters in all
SWEEP_BATCH = 2_000

# The weighted vector of thread `p` (board vector `b`, comment text `c.text`), stemmed by `english`.
# The title also goes in as `simple` (every word as written): a query of English stop words
# only, such as Pidgin "no be so", falls back to `simple` and still finds titles. Titles
# only, because a second pass over bodies and comments costs 40% of the indexing time.
_VECTOR_SQL = f"""
CASE WHEN p.is_hidden THEN NULL ELSE
    setweight(to_tsvector('english', p.title) || to_tsvector('simple', p.title), 'A')
 || b.vector
 || setweight(to_tsvector('english', left(p.body, {BODY_CHARS})), 'C')
 || setweight(to_tsvector('english', coalesce(c.text, '')), 'D')
END
"""
_SOURCES_SQL = f"""
forum_post p
JOIN (SELECT id, setweight(to_tsvector('english', name), 'B') AS vector FROM forum_board) b
  ON b.id = p.board_id
LEFT JOIN LATERAL (
    SELECT left(string_agg(x.body, ' '), {COMMENT_CHARS}) AS text FROM (
        SELECT body FROM forum_comment
        WHERE post_id = p.id AND NOT is_hidden
        ORDER BY created_at, id LIMIT {COMMENTS_PER_THREAD}
    ) x
) c ON true
"""


def post_changed(*, post: Post) -> None:
    """Call in the transaction that created, edited, hid or showed `post`."""
    if post.is_hidden:
        _index_now(post_ids=[post.pk])
    else:
        _mark_dirty(post_id=post.pk)


def comment_changed(*, comment: Comment, deleted: bool = False) -> None:
    """Call in the transaction that created, edited, hid, showed or deleted `comment`: its
    thread's vector includes the visible comments."""
    if deleted or comment.is_hidden:
        _index_now(post_ids=[comment.post_id])
    else:
        _mark_dirty(post_id=comment.post_id)


@dataclass(frozen=True)
class IndexOutcome:
    post_id: int
    indexed: bool
    reason: str

    def as_dict(self) -> dict:
        return {"post_id": self.post_id, "indexed": self.indexed, "reason": self.reason}


@transaction.atomic
def index_post(*, post_id: int) -> IndexOutcome:
    """Index one thread if it is still dirty (ContentIndexingJob)."""
    if not _lock_posts(post_ids=[post_id]):
        return IndexOutcome(post_id, False, "post deleted")
    if not _claim_dirty(post_ids=[post_id]):
        return IndexOutcome(post_id, False, "already indexed by an earlier run")
    _compute(post_ids=[post_id])
    return IndexOutcome(post_id, True, "indexed")


def sweep(*, batch_size: int = SWEEP_BATCH, time_budget: float = 50.0) -> int:
    """Index rows left dirty (a lost message) or built by an older INDEX_VERSION, and posts
    newer than any indexed one (bulk-loaded, e.g. by seed_demo), in batches, until none are
    left or the time budget is spent. Returns the number of threads indexed.

    SKIP LOCKED: sweeps running side by side (a slow one overlapping the next beat) share the
    work instead of waiting for each other."""
    deadline = time.monotonic() + time_budget
    done = 0
    while time.monotonic() < deadline:
        with transaction.atomic(), connection.cursor() as cursor:
            # Posts written through forum.services get their row in the same transaction, so
            # a post above the highest indexed id was loaded around them: give it a row.
            # Each post is locked before its index row (SKIP LOCKED: one being deleted is left
            # to its delete), so the sweep never waits for a lock while holding one.
            cursor.execute(
                """
                INSERT INTO search_postsearchindex (post_id, dirty, version)
                SELECT id, true, 0 FROM forum_post
                WHERE id > (SELECT coalesce(max(post_id), 0) FROM search_postsearchindex)
                ORDER BY id LIMIT %s FOR KEY SHARE SKIP LOCKED
                ON CONFLICT (post_id) DO NOTHING
                """,
                [batch_size],
            )
            cursor.execute(
                """
                UPDATE search_postsearchindex SET dirty = false WHERE post_id IN (
                    SELECT s.post_id FROM search_postsearchindex s
                    JOIN forum_post p ON p.id = s.post_id
                    WHERE s.dirty OR s.version < %s
                    ORDER BY s.post_id LIMIT %s
                    FOR KEY SHARE OF p SKIP LOCKED FOR UPDATE OF s SKIP LOCKED)
                RETURNING post_id
                """,
                [INDEX_VERSION, batch_size],
            )
            post_ids = [row[0] for row in cursor.fetchall()]
            if post_ids:
                _compute(post_ids=post_ids)
        done += len(post_ids)
        if len(post_ids) < batch_size:
            break
    return done


@dataclass(frozen=True)
class ReindexPlan:
    """What `reindex` will go over: `total` posts after `resume_after`."""

    scope: str
    resume_after: int
    total: int
    resumed: bool


def reindex_plan(*, board: Board | None = None, restart: bool = False) -> ReindexPlan:
    scope = board.slug if board else ""
    checkpoint = ReindexCheckpoint.objects.filter(scope=scope).first()
    if checkpoint and restart:
        checkpoint.delete()
        checkpoint = None
    after = checkpoint.last_post_id if checkpoint else 0
    posts = Post.objects.filter(pk__gt=after)
    if board:
        posts = posts.filter(board=board)
    return ReindexPlan(scope, after, posts.count(), checkpoint is not None)


def reindex(
    *,
    board: Board | None = None,
    batch_size: int = 2_000,
    resume_after: int = 0,
    workers: int = 1,
) -> Iterator[int]:
    """Rebuild the vectors of every post (of `board`) in id order, one bulk statement per
    batch, on `workers` database connections; yields the number of posts done per batch.

    The checkpoint moves past a batch only once it and every batch before it committed, so
    an interrupted run resumes without gaps (at worst redoing a batch or two)."""
    if batch_size < 1 or workers < 1:
        raise ValueError("The batch size and the number of workers must be at least 1.")
    scope = board.slug if board else ""
    now = timezone.now()
    ReindexCheckpoint.objects.update_or_create(
        scope=scope,
        defaults={"last_post_id": resume_after, "updated_at": now},
        create_defaults={"last_post_id": resume_after, "started_at": now, "updated_at": now},
    )
    batches = _id_batches(board=board, batch_size=batch_size, after=resume_after)
    if workers == 1:
        for post_ids in batches:
            with transaction.atomic():
                _rebuild(post_ids=post_ids)
                _checkpoint(scope, post_ids[-1])
            yield len(post_ids)
    else:
        # Building vectors is CPU work inside PostgreSQL: one connection per core multiplies
        # the throughput. Each thread gets its own Django connection.
        in_flight: deque[tuple[list[int], Future]] = deque()
        with ThreadPoolExecutor(workers, thread_name_prefix="reindex") as pool:
            for post_ids in batches:
                in_flight.append((post_ids, pool.submit(_rebuild_in_thread, post_ids)))
                while in_flight and (len(in_flight) > workers or in_flight[0][1].done()):
                    yield _finish(scope, *in_flight.popleft())
            while in_flight:
                yield _finish(scope, *in_flight.popleft())
    ReindexCheckpoint.objects.filter(scope=scope).delete()


def _id_batches(*, board: Board | None, batch_size: int, after: int) -> Iterator[list[int]]:
    board_sql = "AND board_id = %s" if board else ""
    board_args = [board.pk] if board else []
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM forum_post WHERE id > %s {board_sql} ORDER BY id LIMIT %s",
                [after, *board_args, batch_size],
            )
            post_ids = [row[0] for row in cursor.fetchall()]
        if not post_ids:
            return
        yield post_ids
        after = post_ids[-1]


def _rebuild(*, post_ids: list[int]) -> None:
    # A row an edit marked dirty meanwhile stays dirty: its own job reindexes it. A row that
    # would not change is not rewritten: re-running a reindex costs reads, not GIN writes.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO search_postsearchindex AS s
                (post_id, board_id, author_id, created_at, vector, dirty, version, indexed_at)
            SELECT p.id, p.board_id, p.author_id, p.created_at, {_VECTOR_SQL},
                   false, %s, now()
            FROM {_SOURCES_SQL}
            WHERE p.id = ANY(%s)
            ON CONFLICT (post_id) DO UPDATE SET
                board_id = EXCLUDED.board_id, author_id = EXCLUDED.author_id,
                created_at = EXCLUDED.created_at, vector = EXCLUDED.vector,
                version = EXCLUDED.version, indexed_at = EXCLUDED.indexed_at
            WHERE (s.board_id, s.author_id, s.created_at, s.vector, s.version)
                IS DISTINCT FROM (EXCLUDED.board_id, EXCLUDED.author_id, EXCLUDED.created_at,
                                  EXCLUDED.vector, EXCLUDED.version)
            """,
            [INDEX_VERSION, post_ids],
        )


def _rebuild_in_thread(post_ids: list[int]) -> None:
    try:
        with transaction.atomic():
            _rebuild(post_ids=post_ids)
    finally:
        connection.close()  # this thread's connection: threads are not reused for requests


def _finish(scope: str, post_ids: list[int], future: Future) -> int:
    future.result()  # re-raises a failed batch: the checkpoint stays before it
    _checkpoint(scope, post_ids[-1])
    return len(post_ids)


def _checkpoint(scope: str, last_post_id: int) -> None:
    ReindexCheckpoint.objects.filter(scope=scope).update(
        last_post_id=last_post_id, updated_at=timezone.now()
    )


def _mark_dirty(*, post_id: int) -> None:
    from search.tasks import ContentIndexingJob  # tasks import this module

    # ON CONFLICT DO UPDATE locks the row even when its WHERE is false, so an indexing run
    # that starts now waits for this transaction and then reads its changes.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO search_postsearchindex AS s (post_id, dirty, version)
            VALUES (%s, true, 0)
            ON CONFLICT (post_id) DO UPDATE SET dirty = true WHERE NOT s.dirty
            RETURNING greatest(0, extract(epoch FROM
                s.indexed_at + make_interval(secs => %s) - clock_timestamp()))
            """,
            [post_id, MIN_REINDEX_INTERVAL],
        )
        row = cursor.fetchone()
    if row is not None:  # clean → dirty: this change needs a run; later ones ride on it
        wait = float(row[0] or 0)
        # Ignored: mypy does not apply @register (see notifications.services).
        ContentIndexingJob.apply_async([post_id, "post"], countdown=wait or None)


def _index_now(*, post_ids: Sequence[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO search_postsearchindex AS s (post_id, dirty, version)
            SELECT unnest(%s::bigint[]), false, 0
            ON CONFLICT (post_id) DO UPDATE SET dirty = false
            """,
            [list(post_ids)],
        )
    _compute(post_ids=post_ids)


def _lock_posts(*, post_ids: Sequence[int]) -> list[int]:
    """Lock the posts before their index rows (the module docstring); returns those that
    still exist."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM forum_post WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE",
            [list(post_ids)],
        )
        return [row[0] for row in cursor.fetchall()]


def _claim_dirty(*, post_ids: Sequence[int]) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE search_postsearchindex SET dirty = false "
            "WHERE post_id = ANY(%s) AND dirty RETURNING post_id",
            [list(post_ids)],
        )
        return [row[0] for row in cursor.fetchall()]


def _compute(*, post_ids: Sequence[int]) -> None:
    """Rebuild the vectors of locked rows. A statement of its own, so its snapshot is taken
    after the locks: it sees every change committed before them."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE search_postsearchindex s SET
                board_id = p.board_id, author_id = p.author_id, created_at = p.created_at,
                vector = {_VECTOR_SQL}, version = %s, indexed_at = now()
            FROM {_SOURCES_SQL}
            WHERE s.post_id = p.id AND p.id = ANY(%s)
            """,
            [INDEX_VERSION, list(post_ids)],
        )
