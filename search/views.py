"""The search page: read the form, call the selector, render."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from config.middleware import cleans_its_own_text
from forum.models import Board, User
from search.forms import SearchForm
from search.selectors import MAX_QUERY_CHARS, SearchResults, clean_query, search_posts


@cleans_its_own_text  # clean_query drops control characters; the form refuses them elsewhere
def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    form.is_valid()  # invalid fields are dropped from cleaned_data and shown as errors
    data = form.cleaned_data
    # ErrorList yields message strings (its __getitem__ unwraps ValidationError); its stubs
    # type the items as ValidationError | str.
    notices = [
        f"{form.fields[field].label or field.capitalize()}: {' '.join(errors)} (ignored)"  # type: ignore[arg-type]
        for field, errors in form.errors.items()
    ]
    board = author = None
    if data.get("board"):
        board = Board.objects.filter(slug=data["board"]).first()
        if board is None:
            notices.append(f"There is no board “{data['board']}”: searching every board.")
    if data.get("author"):
        author = User.objects.filter(username__iexact=data["author"]).first()
        if author is None:
            notices.append(f"There is no member “{data['author']}”: searching every author.")
    query = clean_query(request.GET.get("q", ""))
    results: SearchResults | None = None
    if query.text:
        results = search_posts(
            query=query.text,
            board=board,
            author=author,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            sort=data.get("sort") or "relevance",
            page=data.get("page") or 1,
        )
    context = {
        "form": form,
        "query": query,
        "results": results,
        "notices": notices,
        "max_chars": MAX_QUERY_CHARS,
        "boards": Board.objects.order_by("name").values_list("slug", "name"),
        "board": board,
        "author": author,
        "page_query": _page_query(request),
    }
    return render(request, "search/search.html", context)


def _page_query(request: HttpRequest) -> str:
    """The query string without `page`, for the pagination links."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()
