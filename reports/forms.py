"""The request form. It only collects fields: the parameters are checked in one place,
reports.registry, and its errors come back onto the form's fields (views.report_new)."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from forum.models import Board, User
from reports import registry, selectors

DATE = forms.DateInput(attrs={"type": "date"})


class ReportRequestForm(forms.Form):
    report_type = forms.ChoiceField(label="Report")
    start_date = forms.CharField(required=False, widget=DATE, help_text="User and board activity")
    end_date = forms.CharField(
        required=False, widget=DATE, help_text="At most 366 days after the start"
    )
    date = forms.CharField(required=False, widget=DATE, help_text="Daily summary: the day")
    board_id = forms.TypedChoiceField(
        label="Board", required=False, coerce=int, empty_value=None, help_text="Board activity"
    )
    scope = forms.ChoiceField(
        label="Whose activity",
        required=False,
        choices=[("me", "Mine"), ("everyone", "Everyone")],
        initial="me",
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        cast(forms.ChoiceField, self.fields["report_type"]).choices = [
            (kind.name, kind.label) for kind in registry.types_for(user)
        ]
        cast(forms.ChoiceField, self.fields["board_id"]).choices = [
            ("", "—"),
            *Board.objects.values_list("pk", "name"),
        ]
        if not selectors.sees_every_report(user):  # members see their own activity only
            del self.fields["scope"]

    def parameters(self) -> dict:
        """The chosen report's parameters, as given (registry.clean_parameters checks them)."""
        kind = registry.get(self.cleaned_data["report_type"])
        given = {name: self.cleaned_data.get(name) for name in kind.fields if name != "user_id"}
        if "user_id" in kind.fields and self.cleaned_data.get("scope") == "everyone":
            given["user_id"] = None
        return given

    def add_parameter_error(self, error: registry.ParameterError) -> None:
        field = {"user_id": "scope"}.get(error.field, error.field)
        self.add_error(field if field in self.fields else None, str(error))
