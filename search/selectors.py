"""Reads of the search index: `search_posts` and the query cleaning it relies on.

Speed at a million posts: ranking costs one vector read per match, so a common term would
rank hundreds of thousands of rows. Each search therefore ranks a bounded candidate set,
the newest CANDIDATES matches by post id. The planner reaches them through the GIN index
for rare terms and by walking the primary key backwards for common ones, where new rows sit
together on disk. Only the page shown gets ts_headline.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import quote

from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from forum.models import Board, User, url_template

logger = logging.getLogger("search")

MAX_QUERY_CHARS = 200
CANDIDATES = 500  # matches ranked per search; deeper pages need a narrower query
PER_PAGE = 20
SEARCH_TIMEOUT_MS = 3_000
SORTS = ("relevance", "newest")

# ts_headline wraps matches in these private-use characters, removed from the text first;
# the text is escaped and only then are they turned into <mark>, so content can't inject.
_START, _STOP = "\ue000", "\ue001"
_HEADLINE_OPTIONS = f"StartSel={_START}, StopSel={_STOP}"
_SNIPPET_OPTIONS = _HEADLINE_OPTIONS + ", MaxFragments=2, MinWords=12, MaxWords=30"
_SNIPPET_CHARS = 2_500  # ts_headline's cost grows with the text: highlight the start only
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ue000\ue001]")
_NEGATED = re.compile(r'(?:^|(?<=\s))-(?:"[^"]*"?|\S+)')
# A "-" negates only a word or a phrase; a run of bare ones overflows PostgreSQL's tsquery
# parser ("tsquery stack too small" past 32), so runs collapse and bare ones go.
_DASHES = re.compile(r"-{2,}")
_BARE_DASH = re.compile(r'-(?![\w"])')


@dataclass(frozen=True)
class CleanQuery:
    text: str
    trimmed: bool  # it was longer than MAX_QUERY_CHARS


@dataclass(frozen=True)
class SearchHit:
    post_id: int
    url: str
    title_html: SafeString
    snippet_html: SafeString
    board_name: str
    board_url: str
    author_name: str
    author_url: str
    created_at: datetime
    comment_count: int


@dataclass
class SearchResults:
    query: CleanQuery
    hits: list[SearchHit] = field(default_factory=list)
    page: int = 1
    per_page: int = PER_PAGE
    total: int = 0  # matches ranked: at most CANDIDATES
    searchable: bool = True  # False: the query had no word to look for ("!!!", "-")
    timed_out: bool = False

    @property
    def capped(self) -> bool:
        return self.total >= CANDIDATES

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def clean_query(raw: str) -> CleanQuery:
    """Drop control characters (PostgreSQL refuses NUL), collapse whitespace, and keep at
    most MAX_QUERY_CHARS characters."""
    text = _CONTROL_CHARS.sub(" ", raw or "")
    text = " ".join(_BARE_DASH.sub(" ", _DASHES.sub("-", text)).split())
    if len(text) <= MAX_QUERY_CHARS:
        return CleanQuery(text, False)
    return CleanQuery(text[:MAX_QUERY_CHARS].rstrip(), True)


def search_posts(
    *,
    query: str,
    board: Board | None = None,
    author: User | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    sort: str = "relevance",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> SearchResults:
    """Visible threads matching `query` (web-search syntax: "quotes", -exclude, or), best
    first or newest first, one page with highlighted, escaped titles and snippets."""
    if sort not in SORTS:
        raise ValueError(f"Unknown sort {sort!r}: use one of {', '.join(SORTS)}.")
    clean = clean_query(query)
    results = SearchResults(query=clean, page=max(1, page), per_page=per_page)
    if not clean.text:
        return results
    config, rank_text = _plan_query(clean.text)
    if config is None:
        results.searchable = False
        return results

    filters, args = [], {"q": clean.text, "rq": rank_text, "cap": CANDIDATES}
    if board is not None:
        filters.append("AND i.board_id = %(board)s")
        args["board"] = board.pk
    if author is not None:
        filters.append("AND i.author_id = %(author)s")
        args["author"] = author.pk
    if date_from is not None:
        filters.append("AND i.created_at >= %(from)s")
        args["from"] = _start_of(date_from)
    if date_to is not None:
        filters.append("AND i.created_at < %(to)s")
        args["to"] = _start_of(date_to + timedelta(days=1))
    order = "rank DESC" if sort == "relevance" else "c.created_at DESC"
    offset = (results.page - 1) * per_page
    try:
        page_args = {**args, "limit": per_page, "offset": offset}
        rows = _ranked_page(config, " ".join(filters), order, page_args)
    except OperationalError:  # statement_timeout: a pathological query must not tie up the site
        logger.warning("search.timeout query=%r", clean.text)
        results.timed_out = True
        return results
    if not rows:
        if offset:  # past the last page: report the total all the same
            results.total = search_posts(
                query=clean.text,
                board=board,
                author=author,
                date_from=date_from,
                date_to=date_to,
                sort=sort,
                per_page=per_page,
            ).total
        return results
    results.total = rows[0][1]
    results.hits = _hits([row[0] for row in rows], config=config, highlight=rank_text)
    return results


def _ranked_page(config: str, filters: str, order: str, args: dict) -> list[tuple]:
    """Rank the newest CANDIDATES matches and return one page of (post_id, total, rank)."""
    # A savepoint, so a timeout leaves the caller's transaction usable.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = %s", [SEARCH_TIMEOUT_MS])
        # The config is one of two literals chosen by _plan_query, never user input.
        cursor.execute(
            f"""
            SELECT c.post_id, count(*) OVER () AS total,
                   ts_rank(c.vector, websearch_to_tsquery('{config}', %(rq)s)) AS rank
            FROM (
                SELECT i.post_id, i.vector, i.created_at FROM search_postsearchindex i
                WHERE i.vector @@ websearch_to_tsquery('{config}', %(q)s) {filters}
                ORDER BY i.post_id DESC LIMIT %(cap)s
            ) c
            JOIN forum_post p ON p.id = c.post_id AND NOT p.is_hidden
            ORDER BY {order}, c.post_id DESC
            LIMIT %(limit)s OFFSET %(offset)s
            """,
            args,
        )
        return cursor.fetchall()


def _plan_query(text: str) -> tuple[str | None, str]:
    """The text search config to match with, and the text to rank and highlight with.

    `english` unless it leaves no word (only stop words such as Pidgin "no be so"): then
    `simple`, which indexes every word. Ranking uses the positive terms only: a negated
    term makes ts_rank return ~0 for every row."""
    positive = _NEGATED.sub(" ", text)
    try:
        # A savepoint: a query PostgreSQL can't parse must not break the caller's transaction.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT numnode(websearch_to_tsquery('english', %s)), "
                "numnode(websearch_to_tsquery('simple', %s)), "
                "numnode(websearch_to_tsquery('english', %s))",
                [text, text, positive],
            )
            english, simple, positive_english = cursor.fetchone()
    except DatabaseError:
        logger.warning("search.unparsable_query query=%r", text)
        return None, ""
    if english:
        return "english", positive if positive_english else text
    if simple:
        return "simple", positive
    return None, ""


def _hits(post_ids: list[int], *, config: str, highlight: str) -> list[SearchHit]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT p.id, p.created_at, p.comment_count, b.name, b.slug, u.username,
                   coalesce(nullif(u.display_name, ''), u.username),
                   ts_headline('{config}', translate(p.title, %(markers)s, ''), q,
                               %(title_options)s),
                   ts_headline('{config}', translate(left(p.body, %(chars)s), %(markers)s, ''),
                               q, %(snippet_options)s)
            FROM forum_post p
            JOIN forum_board b ON b.id = p.board_id
            JOIN forum_user u ON u.id = p.author_id,
            websearch_to_tsquery('{config}', %(q)s) q
            WHERE p.id = ANY(%(ids)s)
            """,
            {
                "ids": post_ids,
                "q": highlight,
                "markers": _START + _STOP,
                "chars": _SNIPPET_CHARS,
                "title_options": _HEADLINE_OPTIONS + ", HighlightAll=true",
                "snippet_options": _SNIPPET_OPTIONS,
            },
        )
        rows = {row[0]: row for row in cursor.fetchall()}
    post_url = url_template("forum:post", 987654321)
    board_url = url_template("forum:board", "placeholder-slug")
    profile_url = url_template("forum:profile", "placeholder-name")
    hits = []
    for post_id in post_ids:
        if post_id not in rows:  # deleted since the ranking query
            continue
        _, created, comments, board_name, slug, username, name, title, snippet = rows[post_id]
        hits.append(
            SearchHit(
                post_id=post_id,
                url=post_url.format(post_id),
                title_html=_highlighted(title),
                snippet_html=_highlighted(snippet),
                board_name=board_name,
                board_url=board_url.format(slug),
                author_name=name,
                author_url=profile_url.format(quote(username)),
                created_at=created,
                comment_count=comments,
            )
        )
    return hits


def _highlighted(text: str) -> SafeString:
    escaped = escape(text).replace(_START, "<mark>").replace(_STOP, "</mark>")
    return mark_safe(escaped)  # noqa: S308 -- escaped above; only our markers become tags


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
