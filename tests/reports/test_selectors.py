"""Each report's numbers on the known forum of conftest.py, exactly."""

from datetime import date

from jobs.models import Job, State
from reports import selectors
from tests.reports.conftest import lagos

NOV_10, NOV_11 = date(2026, 11, 10), date(2026, 11, 11)


def test_user_activity_for_everyone_counts_each_member_busiest_first(forum):
    result = selectors.user_activity(start=NOV_10, end=NOV_11, user_id=None)

    assert result["totals"] == {
        "Active members": 3,
        "Posts": 3,
        "Comments": 3,
        "Likes given": 4,
        "Likes received": 4,
    }
    (table,) = result["tables"]
    assert table["columns"] == [
        "Member",
        "Posts",
        "Comments",
        "Likes given",
        "Likes received",
    ]
    assert table["rows"] == [["ada", 2, 1, 2, 2], ["bayo", 1, 1, 1, 1], ["chi", 0, 1, 1, 1]]
    assert result["chart"] == {
        "title": "Activity per day",
        "labels": ["2026-11-10", "2026-11-11"],
        "series": [
            {"name": "Posts", "values": [1, 2]},
            {"name": "Comments", "values": [1, 2]},
            {"name": "Likes given", "values": [2, 2]},
        ],
    }


def test_user_activity_for_one_member_counts_only_theirs(forum):
    result = selectors.user_activity(start=NOV_10, end=NOV_10, user_id=forum.bayo.pk)

    assert result["tables"][0]["rows"] == [["bayo", 0, 1, 1, 0]]
    assert result["totals"]["Active members"] == 1
    assert result["chart"]["series"][1] == {"name": "Comments", "values": [1]}


def test_daily_summary_counts_one_lagos_day_and_the_job_health(forum):
    for state, finished in [
        ("finished", lagos(11, 1)),
        ("finished", lagos(11, 23)),
        ("failed", lagos(11, 5)),
        ("finished", lagos(10, 23)),
    ]:
        Job.objects.create(
            class_name="EmailNotificationJob", queue="default", state=state, finished_at=finished
        )
    Job.objects.create(
        class_name="PruneJobsJob", queue="default", state=State.DISCARDED, finished_at=lagos(11, 6)
    )

    result = selectors.daily_summary(day=NOV_11)

    assert result["totals"] == {"New members": 1, "Posts": 2, "Comments": 2, "Likes": 2}
    boards, posts, jobs = result["tables"]
    assert boards["rows"] == [["Politics", 1, 1], ["Tech", 1, 1]]
    assert posts["rows"] == [["Fuel price", "Politics", 1, 1], ["Django or Laravel", "Tech", 1, 0]]
    assert jobs["rows"] == [["EmailNotificationJob", 2, 1]]
    assert result["chart"]["labels"] == ["Politics", "Tech"]


def test_board_activity_counts_one_board_per_day(forum):
    result = selectors.board_activity(board_id=forum.politics.pk, start=NOV_10, end=NOV_11)

    assert result["totals"] == {"Posts": 2, "Comments": 2}
    per_day, top = result["tables"]
    assert per_day["rows"] == [["2026-11-10", 1, 1], ["2026-11-11", 1, 1]]
    assert top["rows"] == [["Fuel price", "Politics", 2, 2]]


def test_a_quiet_period_has_zero_days_not_missing_ones(forum):
    result = selectors.board_activity(
        board_id=forum.tech.pk, start=date(2026, 10, 1), end=date(2026, 10, 3)
    )
    assert result["tables"][0]["rows"] == [
        ["2026-10-01", 0, 0],
        ["2026-10-02", 0, 0],
        ["2026-10-03", 0, 0],
    ]
    assert result["totals"] == {"Posts": 0, "Comments": 0}
