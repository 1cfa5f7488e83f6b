"""Bad parameters are refused with the reason, whoever enqueues."""

from datetime import timedelta

import pytest

from config.params import MAX_DATE, MIN_DATE
from reports.models import Report, Status
from reports.registry import MAX_RANGE_DAYS, ParameterError, clean_parameters
from reports.services import generate_report, request_report

RANGE = {"start_date": "2026-11-01", "end_date": "2026-11-28"}


@pytest.mark.parametrize(
    ("report_type", "parameters", "field", "message"),
    [
        (
            "user_activity",
            {"start_date": "2026-11-28", "end_date": "2026-11-01"},
            "end_date",
            "The end date 2026-11-01 is before the start date 2026-11-28: swap them.",
        ),
        (
            "user_activity",
            {"start_date": "2025-01-01", "end_date": "2026-01-02"},
            "end_date",
            "The range is 367 days; a report covers at most 366: shorten it or request several.",
        ),
        (
            "user_activity",
            {"start_date": "28/11/2026", "end_date": "2026-11-28"},
            "start_date",
            "Start date must be a date written YYYY-MM-DD, not '28/11/2026'.",
        ),
        (
            "user_activity",
            {"end_date": "2026-11-28"},
            "start_date",
            "Start date is required (YYYY-MM-DD).",
        ),
        (
            "weekly_digest",
            RANGE,
            "report_type",
            "Unknown report type 'weekly_digest': use one of user_activity, daily_summary, "
            "board_activity.",
        ),
        (
            "user_activity",
            {**RANGE, "board_id": 1},
            "__all__",
            "Unknown parameter(s) board_id for user_activity: it takes start_date, end_date, "
            "user_id.",
        ),
        ("board_activity", RANGE, "board_id", "Choose a board."),
    ],
)
def test_bad_parameters_say_what_is_wrong(user, report_type, parameters, field, message):
    with pytest.raises(ParameterError) as error:
        clean_parameters(report_type=report_type, parameters=parameters, requester=user)
    assert (error.value.field, str(error.value)) == (field, message)


def test_a_366_day_range_is_allowed_and_parameters_come_back_canonical(user):
    cleaned = clean_parameters(
        report_type="user_activity",
        parameters={"start_date": "2024-01-01", "end_date": "2024-12-31"},
        requester=user,
    )
    assert cleaned == {"start_date": "2024-01-01", "end_date": "2024-12-31", "user_id": user.pk}


def test_members_get_their_own_activity_and_moderators_may_ask_for_everyone(
    user, other_user, staff, moderator
):
    someone_else = {**RANGE, "user_id": other_user.pk}
    for not_allowed in (user, staff):  # is_staff alone sees no one else's activity
        with pytest.raises(ParameterError, match="your own activity only"):
            clean_parameters(
                report_type="user_activity",
                parameters={**RANGE, "user_id": None},
                requester=not_allowed,
            )
        with pytest.raises(ParameterError, match="your own activity only"):
            clean_parameters(
                report_type="user_activity", parameters=someone_else, requester=not_allowed
            )
    everyone = clean_parameters(
        report_type="user_activity", parameters={**RANGE, "user_id": None}, requester=moderator
    )
    assert everyone["user_id"] is None


def test_daily_summary_is_for_moderators_and_admins(user, staff, moderator, admin):
    for not_allowed in (user, staff):
        with pytest.raises(
            ParameterError, match="Only moderators and admins can request the Daily summary"
        ):
            clean_parameters(
                report_type="daily_summary",
                parameters={"date": "2026-11-27"},
                requester=not_allowed,
            )
    for allowed in (moderator, admin):
        assert clean_parameters(
            report_type="daily_summary", parameters={"date": "2026-11-27"}, requester=allowed
        ) == {"date": "2026-11-27"}


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        (
            "9999-06-01",
            "9999-12-31",
            "start_date",
            "Start date must be between 2000-01-01 and 2100-12-31, not 9999-06-01.",
        ),
        (
            "2026-01-01",
            "9999-12-31",
            "end_date",
            "End date must be between 2000-01-01 and 2100-12-31, not 9999-12-31.",
        ),
        (
            "0001-01-01",
            "0001-12-31",
            "start_date",
            "Start date must be between 2000-01-01 and 2100-12-31, not 0001-01-01.",
        ),
        (
            "٢٠٢٦-٠١-٠١",
            "2026-01-02",
            "start_date",
            "Start date must be a date written YYYY-MM-DD, not '٢٠٢٦-٠١-٠١'.",
        ),
        ("2026-02-30", "2026-03-02", "start_date", "Start date '2026-02-30' is no calendar date."),
    ],
)
def test_dates_outside_the_years_a_report_can_cover_are_refused(user, start, end, field, message):
    with pytest.raises(ParameterError) as error:
        clean_parameters(
            report_type="user_activity",
            parameters={"start_date": start, "end_date": end},
            requester=user,
        )
    assert (error.value.field, str(error.value)) == (field, message)


@pytest.mark.parametrize("value", ["²", "٣", "99999999999999999999999", "-1", " ", "1e3"])
def test_ids_that_are_not_plain_numbers_in_range_are_refused(moderator, board, value):
    with pytest.raises(ParameterError) as error:
        clean_parameters(
            report_type="board_activity",
            parameters={"board_id": value, "start_date": "2026-01-01", "end_date": "2026-01-02"},
            requester=moderator,
        )
    assert (error.value.field, str(error.value)) == ("board_id", "Choose a board.")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (MIN_DATE, MIN_DATE + timedelta(days=MAX_RANGE_DAYS - 1)),
        (MAX_DATE - timedelta(days=MAX_RANGE_DAYS - 1), MAX_DATE),
    ],
    ids=["earliest", "latest"],
)
def test_a_report_of_any_range_the_form_accepts_builds(user, start, end):
    """The job never fails on its dates: the extreme ranges accepted build a ready report."""
    parameters = {"start_date": start.isoformat(), "end_date": end.isoformat()}
    report = request_report(requester=user, report_type="user_activity", parameters=parameters)
    generate_report(
        report_type="user_activity",
        parameters=report.parameters,
        user_id=user.pk,
        job_id=str(report.job_id),
    )
    report.refresh_from_db()
    assert (report.status, report.error) == (Status.READY, "")
    assert Report.objects.count() == 1
