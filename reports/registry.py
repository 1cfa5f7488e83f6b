"""The report types: who may request each, its parameters and how they are checked, its title,
and the selector that computes it.

    clean_parameters(report_type="user_activity",
                     parameters={"start_date": "2026-11-01", "end_date": "2026-11-28"},
                     requester=user)
    → {"start_date": "2026-11-01", "end_date": "2026-11-28", "user_id": 7}

The cleaned dict is canonical (every key, dates as ISO strings), so two equal requests are
equal JSON: that is what the pending-report dedupe compares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from config import params
from forum.models import Board, User
from reports import selectors

MAX_RANGE_DAYS = 366


class ParameterError(ValueError):
    """A bad report request; `field` names the form field the message belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ReportType:
    name: str
    label: str
    fields: tuple[str, ...]  # the parameters a request gives
    moderators_only: bool
    clean: Callable[[dict, User], dict]
    title: Callable[[dict], str]
    # (parameters, step, visible_only) → result; visible_only: for a member, who must not
    # learn anything of hidden content (reports.selectors)
    build: Callable[..., dict]
    steps: int  # times `build` calls step(), for the progress percentage


def get(report_type: str) -> ReportType:
    try:
        return REPORT_TYPES[report_type]
    except (KeyError, TypeError):
        raise ParameterError(
            "report_type",
            f"Unknown report type {report_type!r}: use one of {', '.join(REPORT_TYPES)}.",
        ) from None


def clean_parameters(*, report_type: str, parameters: dict, requester: User) -> dict:
    """The canonical parameters, or ParameterError (a ValueError) saying what is wrong."""
    kind = get(report_type)
    if kind.moderators_only and not selectors.sees_every_report(requester):
        raise ParameterError(
            "report_type", f"Only moderators and admins can request the {kind.label} report."
        )
    if not isinstance(parameters, dict):
        raise ParameterError("__all__", "Report parameters must be a JSON object.")
    unknown = sorted(set(parameters) - set(kind.fields))
    if unknown:
        raise ParameterError(
            "__all__",
            f"Unknown parameter(s) {', '.join(unknown)} for {kind.name}: "
            f"it takes {', '.join(kind.fields)}.",
        )
    return kind.clean(parameters, requester)


def types_for(user: User) -> list[ReportType]:
    everyone = selectors.sees_every_report(user)
    return [kind for kind in REPORT_TYPES.values() if everyone or not kind.moderators_only]


# --- Parameters --------------------------------------------------------------------------------


def parse_date(parameters: dict, field: str) -> date:
    value = parameters.get(field)
    if value in (None, ""):
        raise ParameterError(field, f"{_name(field).capitalize()} is required (YYYY-MM-DD).")
    try:
        return params.parse_date(value, name=_name(field).capitalize())
    except params.BadParameter as error:
        raise ParameterError(field, str(error)) from None


def _parse_id(value: object, field: str, message: str) -> int:
    try:
        return params.parse_int(value, name=field)
    except params.BadParameter:
        raise ParameterError(field, message) from None


def _date_range(parameters: dict) -> tuple[date, date]:
    start, end = parse_date(parameters, "start_date"), parse_date(parameters, "end_date")
    if end < start:
        raise ParameterError(
            "end_date", f"The end date {end} is before the start date {start}: swap them."
        )
    days = (end - start).days + 1
    if days > MAX_RANGE_DAYS:
        raise ParameterError(
            "end_date",
            f"The range is {days} days; a report covers at most {MAX_RANGE_DAYS}: "
            "shorten it or request several.",
        )
    return start, end


def _clean_user_activity(parameters: dict, requester: User) -> dict:
    start, end = _date_range(parameters)
    # Members see their own activity; moderators may ask for everyone (user_id None) or anyone.
    user_id = parameters.get("user_id", requester.pk)
    if user_id is not None:
        user_id = _parse_id(user_id, "user_id", f"user_id {user_id!r} is not a member id.")
    if user_id != requester.pk and not selectors.sees_every_report(requester):
        raise ParameterError(
            "user_id", "You can request your own activity only; moderators can request everyone's."
        )
    if user_id is not None and not User.objects.filter(pk=user_id).exists():
        raise ParameterError("user_id", f"There is no member with id {user_id}.")
    return {"start_date": start.isoformat(), "end_date": end.isoformat(), "user_id": user_id}


def _clean_daily_summary(parameters: dict, requester: User) -> dict:
    return {"date": parse_date(parameters, "date").isoformat()}


def _clean_board_activity(parameters: dict, requester: User) -> dict:
    start, end = _date_range(parameters)
    board_id = _parse_id(parameters.get("board_id"), "board_id", "Choose a board.")
    if not Board.objects.filter(pk=board_id).exists():
        raise ParameterError("board_id", f"There is no board with id {board_id}.")
    return {"board_id": board_id, "start_date": start.isoformat(), "end_date": end.isoformat()}


# --- Titles and builds --------------------------------------------------------------------------


def _user_activity_title(p: dict) -> str:
    who: str | None = "everyone"
    if p["user_id"] is not None:
        who = User.objects.filter(pk=p["user_id"]).values_list("username", flat=True).first()
    return f"User activity of {who}, {p['start_date']} to {p['end_date']}"


def _board_activity_title(p: dict) -> str:
    board = Board.objects.filter(pk=p["board_id"]).values_list("name", flat=True).first()
    return f"Board activity in {board}, {p['start_date']} to {p['end_date']}"


def _dates(p: dict) -> dict:
    return {"start": date.fromisoformat(p["start_date"]), "end": date.fromisoformat(p["end_date"])}


REPORT_TYPES: dict[str, ReportType] = {
    kind.name: kind
    for kind in [
        ReportType(
            name="user_activity",
            label="User activity",
            fields=("start_date", "end_date", "user_id"),
            moderators_only=False,
            clean=_clean_user_activity,
            title=_user_activity_title,
            build=lambda p, step, visible_only: selectors.user_activity(
                **_dates(p), user_id=p["user_id"], step=step, visible_only=visible_only
            ),
            steps=5,
        ),
        ReportType(
            name="daily_summary",
            label="Daily summary",
            fields=("date",),
            moderators_only=True,
            clean=_clean_daily_summary,
            title=lambda p: f"Daily summary for {p['date']}",
            build=lambda p, step, visible_only: selectors.daily_summary(
                day=date.fromisoformat(p["date"]), step=step, visible_only=visible_only
            ),
            steps=4,
        ),
        ReportType(
            name="board_activity",
            label="Board activity",
            fields=("board_id", "start_date", "end_date"),
            moderators_only=False,
            clean=_clean_board_activity,
            title=_board_activity_title,
            build=lambda p, step, visible_only: selectors.board_activity(
                board_id=p["board_id"], **_dates(p), step=step, visible_only=visible_only
            ),
            steps=3,
        ),
    ]
}


def _name(field: str) -> str:
    return field.replace("_", " ")
