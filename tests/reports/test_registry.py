"""Bad parameters are refused with the reason, whoever enqueues."""

import pytest

from reports.registry import ParameterError, clean_parameters

RANGE = {"start_date": "2026-11-01", "end_date": "2026-11-28"}


@pytest.mark.parametrize(
    ("report_type", "parameters", "field", "message"),
    [
        ("user_activity", {"start_date": "2026-11-28", "end_date": "2026-11-01"}, "end_date",
         "The end date 2026-11-01 is before the start date 2026-11-28: swap them."),
        ("user_activity", {"start_date": "2025-01-01", "end_date": "2026-01-02"}, "end_date",
         "The range is 367 days; a report covers at most 366: shorten it or request several."),
        ("user_activity", {"start_date": "28/11/2026", "end_date": "2026-11-28"}, "start_date",
         "Start date '28/11/2026' is not a date: use YYYY-MM-DD."),
        ("user_activity", {"end_date": "2026-11-28"}, "start_date",
         "Start date is required (YYYY-MM-DD)."),
        ("weekly_digest", RANGE, "report_type",
         "Unknown report type 'weekly_digest': use one of user_activity, daily_summary, "
         "board_activity."),
        ("user_activity", {**RANGE, "board_id": 1}, "__all__",
         "Unknown parameter(s) board_id for user_activity: it takes start_date, end_date, "
         "user_id."),
        ("board_activity", RANGE, "board_id", "Choose a board."),
    ],
)  # fmt: skip
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
            clean_parameters(report_type="user_activity", parameters={**RANGE, "user_id": None},
                             requester=not_allowed)  # fmt: skip
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
            clean_parameters(report_type="daily_summary", parameters={"date": "2026-11-27"},
                             requester=not_allowed)  # fmt: skip
    for allowed in (moderator, admin):
        assert clean_parameters(
            report_type="daily_summary", parameters={"date": "2026-11-27"}, requester=allowed
        ) == {"date": "2026-11-27"}
