"""Reads: the numbers of each report type (pure SQL aggregates), and which reports a member sees.

A report's numbers come back in one shape, the one stored as `Report.result` and rendered
by reports.rendering:

    {"totals": {label: n}, "chart": {"title", "labels", "series": [{"name", "values"}]},
     "tables": [{"title", "columns", "rows"}]}

Days are calendar days in the site's time zone (settings.TIME_ZONE, Africa/Lagos). With
`visible_only` (a report for a member) a report counts and lists only what members can see:
hidden posts and comments, and the comments and likes under them, are left out. Otherwise
(staff) every row counts, hidden content included. A "Top posts" table carries its posts'
ids (`post_ids`, not shown) so that a post hidden or deleted later can be taken out of
members' reports (reports.services.withdraw_post).
Each selector calls `step()` after each query so the job can show progress.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, QuerySet
from django.utils import timezone

from forum.models import User
from jobs.models import Job, State
from reports.models import Report

Step = Callable[[], None]
TOP = 10  # rows in the "top" tables of daily_summary and board_activity


# --- Report types --------------------------------------------------------------------------


def user_activity(
    *,
    start: date,
    end: date,
    user_id: int | None,
    step: Step = lambda: None,
    visible_only: bool = False,
) -> dict:
    """Posts, comments, likes given and received per member (or for one member), busiest
    members first, with the daily totals as the chart."""
    lo, hi = _bounds(start, end)
    per_user: dict[str, dict[int, int]] = {}
    per_day: dict[str, dict[date, int]] = {}
    for name, source in _user_sources(_tables(visible_only)).items():
        per_user[name], per_day[name] = _by_user_and_day(source, lo=lo, hi=hi, user_id=user_id)
        step()
    ids = set().union(*per_user.values())
    names = dict(User.objects.filter(pk__in=ids).values_list("pk", "username"))
    rows: list[list[Any]] = [
        [names.get(uid, f"#{uid}"), *(per_user[name].get(uid, 0) for name in _LABELS)]
        for uid in ids
    ]
    rows.sort(key=lambda row: (-sum(row[1:]), row[0]))
    step()
    days = _days(start, end)
    return {
        "totals": {
            "Active members": len(rows),
            **{label: sum(per_user[name].values()) for name, label in _LABELS.items()},
        },
        "chart": _daily_chart(
            "Activity per day",
            days,
            {_LABELS[name]: per_day[name] for name in ("posts", "comments", "likes_given")},
        ),
        "tables": [
            {
                "title": "Members, most active first",
                "columns": ["Member", *_LABELS.values()],
                "rows": rows,
            }
        ],
    }


def daily_summary(*, day: date, step: Step = lambda: None, visible_only: bool = False) -> dict:
    """One day: sign-ups, posts, comments, likes, the busiest boards, the top posts and how
    the background jobs fared."""
    lo, hi = _bounds(day, day)
    tables = _tables(visible_only)
    sources = _user_sources(tables)
    totals = {"New members": User.objects.filter(date_joined__gte=lo, date_joined__lt=hi).count()}
    for name in ("posts", "comments", "likes_given"):
        totals[_LABELS[name]] = _count(sources[name], lo=lo, hi=hi)
    totals["Likes"] = totals.pop(_LABELS["likes_given"])
    step()
    boards = _busiest_boards(tables, lo=lo, hi=hi)
    step()
    top_posts = _top_posts(tables, lo=lo, hi=hi, board_id=None)
    step()
    jobs = _job_health(lo=lo, hi=hi)
    step()
    return {
        "totals": totals,
        "chart": {
            "title": "Busiest boards",
            "labels": [row[0] for row in boards],
            "series": [
                {"name": "Posts", "values": [row[1] for row in boards]},
                {"name": "Comments", "values": [row[2] for row in boards]},
            ],
        },
        "tables": [
            {"title": "Busiest boards", "columns": ["Board", "Posts", "Comments"], "rows": boards},
            top_posts,
            {
                "title": "Background jobs",
                "columns": ["Job", "Finished", "Failed"],
                "rows": jobs,
            },
        ],
    }


def board_activity(
    *, board_id: int, start: date, end: date, step: Step = lambda: None, visible_only: bool = False
) -> dict:
    """One board over a range: posts and comments per day, and its top posts."""
    lo, hi = _bounds(start, end)
    t = _tables(visible_only)
    posts = _by_day(f"SELECT created_at FROM {t.post} p WHERE board_id = %s", [board_id], lo, hi)
    step()
    comments = _by_day(
        f"SELECT c.created_at FROM {t.comment} c JOIN {t.post} p ON p.id = c.post_id"
        " WHERE p.board_id = %s",
        [board_id],
        lo,
        hi,
    )
    step()
    top_posts = _top_posts(t, lo=lo, hi=hi, board_id=board_id)
    step()
    days = _days(start, end)
    return {
        "totals": {"Posts": sum(posts.values()), "Comments": sum(comments.values())},
        "chart": _daily_chart(
            "Posts and comments per day", days, {"Posts": posts, "Comments": comments}
        ),
        "tables": [
            {
                "title": "Per day",
                "columns": ["Day", "Posts", "Comments"],
                "rows": [[d.isoformat(), posts.get(d, 0), comments.get(d, 0)] for d in days],
            },
            top_posts,
        ],
    }


# --- Who sees which report -------------------------------------------------------------------


def sees_every_report(user: User) -> bool:
    """Anyone's reports and activity: reports.view_report (the Moderators group, superusers).
    is_staff alone does not: it only lets a user into admin."""
    return user.has_perm("reports.view_report")


def report_readers() -> QuerySet[User]:
    """Active members who see every report (each gets the daily summary)."""
    return User.objects.with_perm("reports.view_report", is_active=True)


def report_for_viewer(*, user: User, report_id: int) -> Report | None:
    """The report, if `user` may see it: their own, or any with sees_every_report."""
    reports = Report.objects.select_related("requester")
    if not sees_every_report(user):
        reports = reports.filter(requester=user)
    return reports.filter(pk=report_id).first()


def reports_list(*, user: User, everyone: bool = False) -> QuerySet[Report]:
    reports = Report.objects.select_related("requester").defer("result")
    return reports if everyone and sees_every_report(user) else reports.filter(requester=user)


def reports_progress(*, user: User, ids: list[int]) -> list[dict]:
    """What the pages poll: status and progress of the listed reports the user may see."""
    reports = Report.objects.filter(pk__in=ids[:100])
    if not sees_every_report(user):
        reports = reports.filter(requester=user)
    return [
        {"id": pk, "status": status, "progress": progress, "error": error}
        for pk, status, progress, error in reports.values_list("pk", "status", "progress", "error")
    ]


# --- SQL helpers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tables:
    """What the queries read as posts, comments and likes: the tables, or (for members) the
    rows members can see, as subqueries PostgreSQL folds into the query."""

    post: str
    comment: str
    postlike: str
    commentlike: str


_ALL = _Tables("forum_post", "forum_comment", "forum_postlike", "forum_commentlike")
_VISIBLE_POST = "SELECT * FROM forum_post WHERE NOT is_hidden"
_VISIBLE_COMMENT = (
    "SELECT vc.* FROM forum_comment vc JOIN forum_post vp ON vp.id = vc.post_id"
    " WHERE NOT vc.is_hidden AND NOT vp.is_hidden"
)
_VISIBLE = _Tables(
    post=f"({_VISIBLE_POST})",
    comment=f"({_VISIBLE_COMMENT})",
    postlike=f"(SELECT vl.* FROM forum_postlike vl JOIN ({_VISIBLE_POST}) v ON v.id = vl.post_id)",
    commentlike="(SELECT vl.* FROM forum_commentlike vl"
    f" JOIN ({_VISIBLE_COMMENT}) v ON v.id = vl.comment_id)",
)


def _tables(visible_only: bool) -> _Tables:
    return _VISIBLE if visible_only else _ALL


def _user_sources(t: _Tables) -> dict[str, str]:
    """(user_id, created_at) rows of each kind of activity; the date filter is pushed in."""
    return {
        "posts": f"SELECT author_id AS user_id, created_at FROM {t.post} p",
        "comments": f"SELECT author_id AS user_id, created_at FROM {t.comment} c",
        "likes_given": f"SELECT user_id, created_at FROM {t.postlike} pl"
        f" UNION ALL SELECT user_id, created_at FROM {t.commentlike} cl",
        "likes_received": f"SELECT p.author_id AS user_id, l.created_at FROM {t.postlike} l"
        f" JOIN {t.post} p ON p.id = l.post_id"
        f" UNION ALL SELECT c.author_id, l.created_at FROM {t.commentlike} l"
        f" JOIN {t.comment} c ON c.id = l.comment_id",
    }


_LABELS = {
    "posts": "Posts",
    "comments": "Comments",
    "likes_given": "Likes given",
    "likes_received": "Likes received",
}
_TOP_POST_COLUMNS = ["Post", "Board", "Comments", "Likes"]


def _by_user_and_day(
    source: str, *, lo: datetime, hi: datetime, user_id: int | None
) -> tuple[dict[int, int], dict[date, int]]:
    """Counts per user and per day from one scan (GROUPING SETS)."""
    sql = f"""
        SELECT user_id, (created_at AT TIME ZONE %s)::date AS day, count(*)
        FROM ({source}) s
        WHERE created_at >= %s AND created_at < %s AND (%s::bigint IS NULL OR user_id = %s)
        GROUP BY GROUPING SETS ((user_id), (day))
    """
    per_user, per_day = {}, {}
    for uid, day, n in _rows(sql, [settings.TIME_ZONE, lo, hi, user_id, user_id]):
        if day is None:
            per_user[uid] = n
        else:
            per_day[day] = n
    return per_user, per_day


def _count(source: str, *, lo: datetime, hi: datetime) -> int:
    sql = f"SELECT count(*) FROM ({source}) s WHERE created_at >= %s AND created_at < %s"
    return _rows(sql, [lo, hi])[0][0]


def _by_day(source: str, params: list, lo: datetime, hi: datetime) -> dict[date, int]:
    sql = f"""
        SELECT (created_at AT TIME ZONE %s)::date AS day, count(*) FROM ({source}) s
        WHERE created_at >= %s AND created_at < %s GROUP BY day
    """
    return dict(_rows(sql, [settings.TIME_ZONE, *params, lo, hi]))


def _busiest_boards(t: _Tables, *, lo: datetime, hi: datetime) -> list[list]:
    sql = f"""
        SELECT b.name, sum(a.posts)::int, sum(a.comments)::int FROM (
            SELECT board_id, 1 AS posts, 0 AS comments FROM {t.post} p
            WHERE created_at >= %s AND created_at < %s
            UNION ALL
            SELECT p.board_id, 0, 1 FROM {t.comment} c JOIN {t.post} p ON p.id = c.post_id
            WHERE c.created_at >= %s AND c.created_at < %s
        ) a JOIN forum_board b ON b.id = a.board_id
        GROUP BY b.id, b.name ORDER BY sum(a.posts) + sum(a.comments) DESC, b.name LIMIT %s
    """
    return [list(row) for row in _rows(sql, [lo, hi, lo, hi, TOP])]


def _top_posts(t: _Tables, *, lo: datetime, hi: datetime, board_id: int | None) -> dict:
    """The "Top posts" table: posts with the most comments and likes in the period, whenever
    they were written, with their ids."""
    sql = f"""
        SELECT p.id, p.title, b.name, sum(a.comments)::int, sum(a.likes)::int FROM (
            SELECT post_id, 1 AS comments, 0 AS likes FROM {t.comment} c
            WHERE created_at >= %s AND created_at < %s
            UNION ALL
            SELECT post_id, 0, 1 FROM {t.postlike} l WHERE created_at >= %s AND created_at < %s
        ) a JOIN {t.post} p ON p.id = a.post_id JOIN forum_board b ON b.id = p.board_id
        WHERE %s::bigint IS NULL OR p.board_id = %s
        GROUP BY p.id, p.title, b.name
        ORDER BY sum(a.comments) + sum(a.likes) DESC, p.id LIMIT %s
    """
    rows = _rows(sql, [lo, hi, lo, hi, board_id, board_id, TOP])
    return {
        "title": "Top posts",
        "columns": _TOP_POST_COLUMNS,
        "rows": [list(row[1:]) for row in rows],
        "post_ids": [row[0] for row in rows],
    }


def _job_health(*, lo: datetime, hi: datetime) -> list[list]:
    """Jobs that ended in the period, per class. Finished jobs are pruned after a week."""
    counts = (
        Job.objects.filter(
            finished_at__gte=lo, finished_at__lt=hi, state__in=[State.FINISHED, State.FAILED]
        )
        .order_by()
        .values_list("class_name", "state")
        .annotate(n=Count("id"))
    )
    table: dict[str, list] = {}
    for class_name, state, n in counts:
        row = table.setdefault(class_name, [class_name, 0, 0])
        row[1 if state == State.FINISHED else 2] = n
    return [table[name] for name in sorted(table)]


def _rows(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in the site's time zone."""
    tz = timezone.get_default_timezone()
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _daily_chart(title: str, days: list[date], series: dict[str, dict[date, int]]) -> dict:
    return {
        "title": title,
        "labels": [d.isoformat() for d in days],
        "series": [
            {"name": name, "values": [counts.get(d, 0) for d in days]}
            for name, counts in series.items()
        ],
    }
