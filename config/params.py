"""One validating path for the dates, integers and page numbers a request carries.

Every view, form and admin page that reads one calls these helpers (or the form fields below),
so each kind of value is bounded the same way everywhere:

- digits are ASCII only: `"²".isdigit()` is True and `int("٣")` is 3, but no link or form of
  ours sends either;
- an id fits PostgreSQL's bigint;
- a date lies between MIN_DATE and MAX_DATE, far from `date.min`/`date.max`, so adding a day
  or a time zone to it can never overflow (a search's end of day, a report's last day);
- a page number is clamped into 1..MAX_PAGE: a bad one is no error worth a message.

A bad value raises BadParameter, whose message says what to send instead. Forms turn it into
a field error; raised from a view it is a 400 page showing that message (config.views).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import BadRequest

MIN_DATE = date(2000, 1, 1)
MAX_DATE = date(2100, 12, 31)
MAX_ID = 2**63 - 1  # PostgreSQL bigint
MAX_PAGE = 10_000

_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")  # ASCII digits; the length stops int() on megabytes
_PAGE = re.compile(r"(?P<sign>[+-]?)(?P<digits>[0-9]+)")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ALLOWED_CONTROLS = frozenset("\t\n\r")  # typed or pasted into a text box


class BadParameter(BadRequest, ValueError):
    """A request parameter no view can use; `name` is the parameter, the message says what
    to send instead."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


def parse_int(value: object, *, name: str, min_value: int = 1, max_value: int = MAX_ID) -> int:
    """An integer in min_value..max_value written in ASCII digits (an id by default)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise BadParameter(
            name, f"{name} must be a whole number written in digits 0-9, not {_shown(value)}."
        )
    if not min_value <= number <= max_value:
        raise BadParameter(
            name, f"{name} must be between {min_value:,} and {max_value:,}, not {number:,}."
        )
    return number


def parse_ids(values: list[str], *, name: str) -> list[int]:
    """Ids, as in `?id=3&id=7`."""
    return [parse_int(value, name=name) for value in values]


def parse_date(value: object, *, name: str) -> date:
    """A date written YYYY-MM-DD (ASCII digits) between MIN_DATE and MAX_DATE."""
    if isinstance(value, date):
        day = value
    elif isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise BadParameter(name, f"{name} {_shown(value)} is no calendar date.") from None
    else:
        raise BadParameter(name, f"{name} must be a date written YYYY-MM-DD, not {_shown(value)}.")
    if not MIN_DATE <= day <= MAX_DATE:
        raise BadParameter(name, f"{name} must be between {MIN_DATE} and {MAX_DATE}, not {day}.")
    return day


def page_number(value: object) -> int:
    """The page asked for, clamped into 1..MAX_PAGE; anything but a number is page 1. Past
    the last page, Paginator.get_page shows the last one."""
    text = str(value).strip() if isinstance(value, (int, str)) else ""
    match = _PAGE.fullmatch(text)
    if not match or match["sign"] == "-":
        return 1
    digits = match["digits"].lstrip("0")
    if len(digits) > len(str(MAX_PAGE)):
        return MAX_PAGE
    return min(max(int(digits or 0), 1), MAX_PAGE)


def parse_text(value: str, *, name: str) -> str:
    """Text with no control character (NUL, escape, …) other than tab and line breaks:
    PostgreSQL cannot store a NUL, and nothing we offer sends the others."""
    if has_control_characters(value, allowed=_ALLOWED_CONTROLS):
        raise BadParameter(
            name, f"{name} contains a control character (such as NUL): remove it and try again."
        )
    return value


def has_control_characters(text: str, *, allowed: frozenset[str] = frozenset()) -> bool:
    return any(unicodedata.category(char) == "Cc" and char not in allowed for char in text)


# --- Form fields -------------------------------------------------------------------------------


class DateField(forms.Field):
    """A date through parse_date: the same format and bounds as every other date we read."""

    widget = forms.DateInput(attrs={"type": "date"})

    def to_python(self, value: Any) -> date | None:
        if value in self.empty_values:
            return None
        try:
            return parse_date(value, name="The date")
        except BadParameter as error:
            raise forms.ValidationError(str(error), code="invalid") from None


class PageField(forms.Field):
    """A page number through page_number: clamped, never an error."""

    def to_python(self, value: Any) -> int:
        return page_number(value)


def _shown(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…'"
