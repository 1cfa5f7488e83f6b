from typing import Any

from django import forms

from config import params
from search.selectors import SORTS


class SearchForm(forms.Form):
    """The search page's query string. Every field is optional and forgiving: a bad value
    becomes a message on the page, never an error response."""

    q = forms.CharField(required=False, strip=False)
    board = forms.SlugField(required=False)
    author = forms.CharField(required=False, max_length=150)
    date_from = params.DateField(required=False, label="From")
    date_to = params.DateField(required=False, label="To")
    sort = forms.ChoiceField(
        required=False, choices=[(s, s.capitalize()) for s in SORTS], initial="relevance"
    )
    page = params.PageField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data; the stubs allow None
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data
