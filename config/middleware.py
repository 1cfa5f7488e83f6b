"""Request parameters that no view can use are refused before any view runs, with a 400 that
says what is wrong (config.params.BadParameter, shown by config.views.bad_request)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.admin import ModelAdmin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponse

from config.params import (
    MAX_DATE,
    MIN_DATE,
    BadParameter,
    has_control_characters,
    parse_int,
    parse_text,
)

_View = TypeVar("_View", bound=Callable[..., HttpResponse])

# Django admin's date drill-down: year, month, day as the changelist reads them.
DATE_HIERARCHY_BOUNDS = {
    "year": (MIN_DATE.year, MAX_DATE.year),
    "month": (1, 12),
    "day": (1, 31),
}


def cleans_its_own_text(view: _View) -> _View:
    """Marks a view that removes control characters from its query itself (the search page
    shows results for what is left), so the middleware lets them through to it."""
    view.cleans_its_own_text = True  # type: ignore[attr-defined]  # a marker on the function
    return view


class RequestParametersMiddleware:
    """No control character (NUL, escape, …) in the path or the query string: PostgreSQL
    cannot store a NUL, so a lookup by one would fail as a server error. Views marked
    `cleans_its_own_text` take the query string as it is.

    On Django admin's change lists, the date drill-down and an action's selected ids are
    checked too: admin passes them on unchecked, so `…__year=9999&…__day=31` overflows and
    `_selected_action=²` fails as a server error on every model admin."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if has_control_characters(request.path):
            raise BadParameter(
                "path", "The address contains a control character (such as NUL): remove it."
            )
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponse],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> None:
        if not getattr(view_func, "cleans_its_own_text", False):
            for key, values in request.GET.lists():
                parse_text(key, name="A parameter name")
                for value in values:
                    parse_text(value, name=key[:40])
        model_admin = getattr(view_func, "model_admin", None)
        match = request.resolver_match
        url_name = (match.url_name if match else None) or ""
        if model_admin is not None and url_name.endswith("_changelist"):
            _check_changelist(request, model_admin)


def _check_changelist(request: HttpRequest, model_admin: ModelAdmin[Any]) -> None:
    if model_admin.date_hierarchy:
        for part, (low, high) in DATE_HIERARCHY_BOUNDS.items():
            name = f"{model_admin.date_hierarchy}__{part}"
            for value in request.GET.getlist(name):
                parse_int(value, name=name, min_value=low, max_value=high)
    if request.method == "POST":
        pk = model_admin.model._meta.pk
        pk = pk.target_field if pk.is_relation else pk
        for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
            if isinstance(pk, models.IntegerField):
                parse_int(value, name="A selected row")
                continue
            try:
                pk.to_python(parse_text(value, name="A selected row"))
            except ValidationError:
                raise BadParameter(
                    ACTION_CHECKBOX_NAME,
                    "A selected row is not one of this list's: tick the rows in the list again.",
                ) from None
