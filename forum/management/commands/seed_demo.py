"""Demo data, idempotent and fast enough for 1,000,000 posts.

Running it again with the same numbers adds nothing; with bigger numbers it tops up. Rows go
in with PostgreSQL COPY; every demo user shares one password hash (hashing per user would
take hours at 100,000 users). Counters are recomputed in SQL at the end.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from forum.demo_data import SECTIONS, TITLES, WORDS
from forum.models import Board, Comment, Post, PostLike, Section, User

DEMO_PASSWORD = "naija-demo"
DEMO_PREFIX = "demo_user_"
SPAN_DAYS = 365
WORD_WEIGHTS = list(accumulate(1 / (rank + 1) for rank in range(len(WORDS))))  # Zipf-like


class Command(BaseCommand):
    help = (
        "Create demo sections, boards, users, posts, comments and likes (idempotent). "
        f"Demo users log in as {DEMO_PREFIX}N with password '{DEMO_PASSWORD}'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=50)
        parser.add_argument("--posts", type=int, default=500)
        parser.add_argument("--comments", type=int, default=2000)
        parser.add_argument("--likes", type=int, default=None, help="default: as many as comments")
        parser.add_argument("--batch-size", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=2005)
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when the forum already has posts"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        for name in ("users", "posts", "comments", "batch_size"):
            if opts[name] < (1 if name == "batch_size" else 0):
                raise CommandError(f"--{name.replace('_', '-')} must be a positive number.")
        if opts["posts"] and not opts["users"]:
            raise CommandError("Posts need authors: pass --users 1 or more.")
        if opts["comments"] and not opts["posts"]:
            raise CommandError("Comments need posts: pass --posts 1 or more.")
        if opts["if_empty"] and Post.objects.exists():
            self.stdout.write("The forum already has posts: demo data not loaded.")
            return
        likes = opts["comments"] if opts["likes"] is None else opts["likes"]
        self.rng = random.Random(opts["seed"])
        self.batch = opts["batch_size"]
        self.now = timezone.now()

        boards = self.seed_boards()
        user_ids = self.seed_users(opts["users"])
        self.seed_posts(opts["posts"], boards, user_ids)
        self.seed_comments(opts["comments"], user_ids)
        self.seed_likes(likes, user_ids)
        self.recount()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data: {User.objects.count():,} users, {Post.objects.count():,} posts, "
                f"{Comment.objects.count():,} comments, {PostLike.objects.count():,} likes."
            )
        )

    def seed_boards(self) -> list[int]:
        for s_pos, (section_name, boards) in enumerate(SECTIONS):
            section, _ = Section.objects.update_or_create(
                slug=_slug(section_name), defaults={"name": section_name, "position": s_pos}
            )
            for b_pos, (name, slug, description) in enumerate(boards):
                Board.objects.update_or_create(
                    slug=slug,
                    defaults={
                        "name": name,
                        "section": section,
                        "description": description,
                        "position": b_pos,
                    },
                )
        return list(Board.objects.order_by("id").values_list("id", flat=True))

    def seed_users(self, target: int) -> list[int]:
        existing = User.objects.filter(username__startswith=DEMO_PREFIX).count()
        missing = range(existing, target)
        if missing:
            password = make_password(DEMO_PASSWORD)
            columns = (
                "username, email, display_name, password, first_name, last_name, is_staff, "
                "is_active, is_superuser, date_joined"
            )
            rows = (
                (
                    f"{DEMO_PREFIX}{i}",
                    f"{DEMO_PREFIX}{i}@example.com",
                    f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}",
                    password,
                    "",
                    "",
                    False,
                    True,
                    False,
                    self.random_time(),
                )
                for i in missing
            )
            self.copy("forum_user", columns, rows, len(missing), "users")
        return list(
            User.objects.filter(username__startswith=DEMO_PREFIX)
            .order_by("id")
            .values_list("id", flat=True)[:target]
        )

    def seed_posts(self, target: int, boards: list[int], user_ids: list[int]) -> None:
        missing = max(0, target - Post.objects.count())
        if not missing:
            return
        columns = (
            "board_id, author_id, title, body, body_html, created_at, updated_at, "
            "last_activity_at, comment_count, like_count, is_hidden"
        )

        def rows() -> Iterator[tuple[Any, ...]]:
            for _ in range(missing):
                body, html = self.random_body(paragraphs=self.rng.randint(1, 3))
                created = self.random_time()
                title = f"{self.rng.choice(TITLES)} ({' '.join(self.words(2))})"
                author, board = self.rng.choice(user_ids), self.rng.choice(boards)
                yield (board, author, title, body, html, created, created, created, 0, 0, False)

        self.copy("forum_post", columns, rows(), missing, "posts")

    def seed_comments(self, target: int, user_ids: list[int]) -> None:
        missing = max(0, target - Comment.objects.count())
        if not missing:
            return
        max_post = Post.objects.order_by("-id").values_list("id", flat=True).first()
        min_post = Post.objects.order_by("id").values_list("id", flat=True).first()
        assert max_post is not None and min_post is not None  # handle(): no comments without posts
        columns = (
            "post_id, author_id, body, body_html, created_at, updated_at, like_count, is_hidden"
        )

        def rows() -> Iterator[tuple[Any, ...]]:
            for _ in range(missing):
                body, html = self.random_body(paragraphs=1)
                created = self.random_time()
                post = self.rng.randint(min_post, max_post)
                yield (post, self.rng.choice(user_ids), body, html, created, created, 0, False)

        # Ids between min and max may have been deleted: copy into a staging table, keep the
        # rows whose post exists.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE seed_comment ON COMMIT DROP AS "
                f"SELECT {columns} FROM forum_comment WITH NO DATA"
            )
            self.copy("seed_comment", columns, rows(), missing, "comments")
            cursor.execute(
                f"INSERT INTO forum_comment ({columns}) SELECT {columns} FROM seed_comment s "
                "WHERE EXISTS (SELECT 1 FROM forum_post p WHERE p.id = s.post_id)"
            )
            cursor.execute("DROP TABLE seed_comment")  # also when called inside a transaction

    def seed_likes(self, target: int, user_ids: list[int]) -> None:
        missing = max(0, target - PostLike.objects.count())
        if not missing or not user_ids:
            return
        first_post = Post.objects.order_by("id").values_list("id", flat=True).first()
        last_post = Post.objects.order_by("-id").values_list("id", flat=True).first()
        assert first_post is not None and last_post is not None, "likes need posts: pass --posts"
        # Random pairs collide: draw a margin more, keep `missing` distinct new ones.
        candidates = missing + missing // 4 + 100
        rows = (
            (self.rng.randint(first_post, last_post), self.rng.choice(user_ids), self.random_time())
            for _ in range(candidates)
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE seed_like (post_id bigint, user_id bigint, created_at "
                "timestamptz) ON COMMIT DROP"
            )
            self.copy("seed_like", "post_id, user_id, created_at", rows, candidates, "likes")
            cursor.execute(
                """
                INSERT INTO forum_postlike (post_id, user_id, created_at)
                SELECT s.post_id, s.user_id, min(s.created_at) FROM seed_like s
                JOIN forum_post p ON p.id = s.post_id
                WHERE NOT EXISTS (SELECT 1 FROM forum_postlike l
                                  WHERE l.post_id = s.post_id AND l.user_id = s.user_id)
                GROUP BY s.post_id, s.user_id LIMIT %s
                """,
                [missing],
            )
            cursor.execute("DROP TABLE seed_like")

    def recount(self) -> None:
        """Make every counter match the rows, in set-based SQL."""
        self.stdout.write("Recomputing counters…")
        with transaction.atomic(), connection.cursor() as cursor:
            # One pass over the posts: each updated row is rewritten once, not once per counter.
            cursor.execute(
                """
                UPDATE forum_post p SET comment_count = coalesce(c.n, 0),
                       like_count = coalesce(l.n, 0),
                       last_activity_at = greatest(p.created_at, c.last)
                FROM forum_post p2
                LEFT JOIN (SELECT post_id, count(*) AS n, max(created_at) AS last
                           FROM forum_comment WHERE NOT is_hidden GROUP BY post_id) c
                  ON c.post_id = p2.id
                LEFT JOIN (SELECT post_id, count(*) AS n FROM forum_postlike GROUP BY post_id) l
                  ON l.post_id = p2.id
                WHERE p.id = p2.id AND (p.comment_count <> coalesce(c.n, 0)
                      OR p.like_count <> coalesce(l.n, 0)
                      OR p.last_activity_at <> greatest(p.created_at, c.last))
                """
            )
            cursor.execute(
                """
                UPDATE forum_board b SET post_count = coalesce(s.n, 0), last_activity_at = s.last
                FROM forum_board b2 LEFT JOIN (
                    SELECT board_id, count(*) AS n, max(last_activity_at) AS last
                    FROM forum_post WHERE NOT is_hidden GROUP BY board_id) s
                  ON s.board_id = b2.id
                WHERE b.id = b2.id
                """
            )
            cursor.execute("ANALYZE forum_post; ANALYZE forum_comment; ANALYZE forum_postlike")

    def copy(
        self, table: str, columns: str, rows: Iterable[tuple[Any, ...]], total: int, label: str
    ) -> None:
        connection.ensure_connection()
        with (
            connection.connection.cursor() as cursor,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            tqdm(total=total, desc=label, unit=" rows", disable=total < 5000) as bar,
        ):
            for n, row in enumerate(rows, 1):
                copy.write_row(row)
                if n % self.batch == 0:
                    bar.update(self.batch)
            bar.update(total % self.batch)

    def random_time(self) -> datetime:
        return self.now - timedelta(seconds=self.rng.randint(0, SPAN_DAYS * 86_400))

    def words(self, n: int) -> list[str]:
        return self.rng.choices(WORDS, cum_weights=WORD_WEIGHTS, k=n)

    def random_body(self, *, paragraphs: int) -> tuple[str, str]:
        """Plain-word paragraphs, and the HTML render_markdown gives for them."""
        paras = [
            " ".join(self.words(self.rng.randint(8, 50))).capitalize() + "."
            for _ in range(paragraphs)
        ]
        return "\n\n".join(paras), "\n".join(f"<p>{p}</p>" for p in paras)


FIRST_NAMES = (
    "Chinedu Ngozi Tunde Aisha Emeka Funmi Ibrahim Bisi Obinna Zainab Segun Amaka Yusuf Kemi"
).split()
LAST_NAMES = "Okafor Adeyemi Bello Eze Ogunleye Musa Nwosu Balogun Abubakar Okonkwo Adebayo".split()


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
