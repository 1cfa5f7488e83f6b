"""`python manage.py search reindex [--board SLUG] [--batch-size N] [--workers N] [--restart]`."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from forum.models import Board
from search import services


class Command(BaseCommand):
    help = "Search index operations."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        reindex = sub.add_parser(
            "reindex",
            help="Rebuild the search index of every post (or one board's) in bulk. An "
            "interrupted run resumes where it stopped; --restart starts over.",
        )
        reindex.add_argument("--board", metavar="SLUG", help="only this board's posts")
        reindex.add_argument("--batch-size", type=int, default=2_000, metavar="N")
        reindex.add_argument(
            "--workers", type=int, default=2, metavar="N", help="database connections (2)"
        )
        reindex.add_argument("--restart", action="store_true", help="ignore a saved position")

    def handle(self, *args: Any, **opts: Any) -> None:
        for name in ("batch_size", "workers"):
            if opts[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1.")
        board = None
        if opts["board"]:
            board = Board.objects.filter(slug=opts["board"]).first()
            if board is None:
                slugs = ", ".join(Board.objects.order_by("slug").values_list("slug", flat=True))
                raise CommandError(f"No board with slug {opts['board']!r}. Boards: {slugs}")
        plan = services.reindex_plan(board=board, restart=opts["restart"])
        if plan.resumed:
            self.stdout.write(
                f"Resuming an interrupted reindex after post {plan.resume_after} "
                "(pass --restart to start over)."
            )
        started = time.monotonic()
        done = 0
        batches = services.reindex(
            board=board,
            batch_size=opts["batch_size"],
            resume_after=plan.resume_after,
            workers=opts["workers"],
        )
        with tqdm(total=plan.total, unit=" posts") as bar:
            for count in batches:
                done += count
                bar.update(count)
        elapsed = max(time.monotonic() - started, 1e-9)
        self.stdout.write(
            self.style.SUCCESS(
                f"Reindexed {done:,} posts in {elapsed:.1f}s ({done / elapsed:,.0f} posts/s)."
            )
        )
