"""The /reports/ pages: the request form, my reports, a report, its files, progress."""

import csv
import io
import threading
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import Client

from jobs.models import Job
from reports.models import Report, Status
from reports.services import expire_reports, generate_report, request_report

RANGE = {"start_date": "2026-11-10", "end_date": "2026-11-11"}


def build(report: Report) -> Report:
    generate_report(
        report_type=report.report_type,
        parameters=report.parameters,
        user_id=report.requester_id,
        job_id=str(report.job_id),
    )
    report.refresh_from_db()
    return report


@pytest.fixture
def ready_report(forum):
    return build(request_report(requester=forum.ada, report_type="user_activity", parameters=RANGE))


def test_requesting_a_report_queues_it_and_shows_its_progress(user_client, user):
    response = user_client.post(
        "/reports/new/", {"report_type": "user_activity", **RANGE}, follow=True
    )
    report = Report.objects.get()
    assert response.redirect_chain == [(f"/reports/{report.pk}/", 302)]
    assert b"Queued" in response.content and b'<progress max="100" value="0">' in response.content
    assert report.parameters == {**RANGE, "user_id": user.pk}
    assert Job.objects.filter(class_name="ReportGenerationJob").count() == 1


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"report_type": "user_activity", "start_date": "2026-11-11", "end_date": "2026-11-01"},
            "The end date 2026-11-01 is before the start date 2026-11-11: swap them.",
        ),
        (
            {"report_type": "user_activity", "start_date": "2024-01-01", "end_date": "2026-01-01"},
            "The range is 732 days; a report covers at most 366: shorten it or request several.",
        ),
        (
            {"report_type": "user_activity", "start_date": "11/10/2026", "end_date": "2026-11-11"},
            "Start date must be a date written YYYY-MM-DD, not &#x27;11/10/2026&#x27;.",
        ),
        (
            {"report_type": "user_activity", "start_date": "9999-06-01", "end_date": "9999-12-31"},
            "Start date must be between 2000-01-01 and 2100-12-31, not 9999-06-01.",
        ),
        (
            {"report_type": "weekly_digest", **RANGE},
            "Select a valid choice. weekly_digest is not one of the available choices.",
        ),
        (
            {"report_type": "daily_summary", "date": "2026-11-11"},  # members may not
            "Select a valid choice. daily_summary is not one of the available choices.",
        ),
        ({"report_type": "board_activity", **RANGE}, "Choose a board."),
    ],
)
def test_bad_requests_show_the_reason_on_the_form_and_queue_nothing(user_client, form, message):
    response = user_client.post("/reports/new/", form)

    assert response.status_code == 200
    assert f'<p class="error">{message}</p>' in response.content.decode()
    assert not Report.objects.exists() and not Job.objects.exists()


def test_the_same_request_twice_leads_to_the_same_report(user_client):
    first = user_client.post("/reports/new/", {"report_type": "user_activity", **RANGE})
    second = user_client.post("/reports/new/", {"report_type": "user_activity", **RANGE})
    assert first.url == second.url == f"/reports/{Report.objects.get().pk}/"


REQUESTS_AT_ONCE = 24


@pytest.mark.django_db(transaction=True)
def test_many_requests_at_once_from_one_member_queue_no_more_than_the_limit(user, settings):
    """REQUESTS_AT_ONCE requests of one member arrive together, each in its own thread and
    database connection (a double-clicking member, or a script): the limit holds."""
    settings.REPORTS_MAX_PENDING = 3
    clients = []
    for _ in range(REQUESTS_AT_ONCE):
        clients.append(Client())
        clients[-1].force_login(user)
    start = threading.Barrier(len(clients))
    answers: list = [None] * len(clients)

    def request(i: int) -> None:
        try:
            start.wait()
            start_date = date(2026, 1, 1) + timedelta(days=i)  # a different request each
            form = {
                "report_type": "user_activity",
                "start_date": start_date,
                "end_date": "2026-12-31",
            }
            answers[i] = clients[i].post("/reports/new/", form)
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (
        sorted(answer.status_code for answer in answers)
        == [200] * (REQUESTS_AT_ONCE - 3) + [302] * 3
    )
    refused = [answer.content.decode() for answer in answers if answer.status_code == 200]
    assert all("You already have 3 reports waiting or being built" in page for page in refused)
    assert Report.objects.filter(requester=user).count() == 3
    assert Job.objects.filter(class_name="ReportGenerationJob").count() == 3


def test_moderators_can_request_everyones_activity_and_the_daily_summary(client, moderator):
    client.force_login(moderator)
    client.post("/reports/new/", {"report_type": "user_activity", "scope": "everyone", **RANGE})
    client.post("/reports/new/", {"report_type": "daily_summary", "date": "2026-11-11"})
    assert sorted(Report.objects.values_list("title", flat=True)) == [
        "Daily summary for 2026-11-11",
        "User activity of everyone, 2026-11-10 to 2026-11-11",
    ]


def test_a_ready_report_shows_totals_chart_table_and_csv(client, ready_report):
    client.force_login(ready_report.requester)
    page = client.get(f"/reports/{ready_report.pk}/").content.decode()
    assert "<dt>Likes received</dt><dd>2</dd>" in page
    assert f'src="/reports/{ready_report.pk}/chart.svg"' in page
    assert "<td>ada</td><td>2</td><td>1</td><td>2</td><td>2</td>" in page

    chart = client.get(f"/reports/{ready_report.pk}/chart.svg")
    assert chart["Content-Type"] == "image/svg+xml"
    assert b'<rect class="bar"' in b"".join(chart.streaming_content)

    download = client.get(f"/reports/{ready_report.pk}/report.csv")
    assert download["Content-Disposition"] == (
        f'attachment; filename="report-{ready_report.pk}.csv"'
    )
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert rows[:6] == [
        ["Total", "Count"],
        ["Active members", "1"],
        ["Posts", "2"],
        ["Comments", "1"],
        ["Likes given", "2"],
        ["Likes received", "2"],
    ]
    assert rows[7:] == [
        ["Members, most active first"],
        ["Member", "Posts", "Comments", "Likes given", "Likes received"],
        ["ada", "2", "1", "2", "2"],
    ]


@pytest.mark.parametrize(
    "path", ["/reports/{pk}/", "/reports/{pk}/report.csv", "/reports/{pk}/chart.svg"]
)
def test_another_members_report_is_404_and_moderators_see_it(
    client, other_user, staff, moderator, ready_report, path
):
    url = path.format(pk=ready_report.pk)
    for not_allowed in (other_user, staff):
        client.force_login(not_allowed)
        assert client.get(url).status_code == 404
    client.force_login(moderator)
    assert client.get(url).status_code == 200


def test_my_reports_and_the_progress_endpoint_show_only_mine(
    client, forum, other_user, staff, moderator
):
    mine = request_report(requester=forum.bayo, report_type="user_activity", parameters=RANGE)
    theirs = request_report(requester=other_user, report_type="user_activity", parameters=RANGE)
    client.force_login(forum.bayo)

    page = client.get("/reports/").content.decode()
    assert mine.title in page and theirs.title not in page
    assert 'href="/reports/"' in page  # the nav link
    progress = client.get(f"/reports/progress/?id={mine.pk}&id={theirs.pk}").json()
    assert progress == {
        "reports": [{"id": mine.pk, "status": "queued", "progress": 0, "error": ""}]
    }
    client.force_login(staff)  # is_staff alone: still only their own
    assert theirs.title not in client.get("/reports/?all=1").content.decode()
    client.force_login(moderator)
    assert theirs.title in client.get("/reports/?all=1").content.decode()


def test_an_expired_report_says_so_and_can_be_built_again(client, ready_report):
    expire_reports(now=ready_report.expires_at)
    client.force_login(ready_report.requester)

    page = client.get(f"/reports/{ready_report.pk}/").content.decode()
    assert "This report expired and its files were deleted." in page
    assert client.get(f"/reports/{ready_report.pk}/report.csv").status_code == 404

    response = client.post(f"/reports/{ready_report.pk}/again/")
    again = Report.objects.exclude(pk=ready_report.pk).get()
    assert response.url == f"/reports/{again.pk}/"
    assert (again.status, again.parameters) == (Status.QUEUED, ready_report.parameters)


def test_pages_need_a_login(client):
    assert client.get("/reports/").url.startswith("/accounts/login/")
