"""Shared helpers for the search tests."""

from forum import services as forum
from search import services
from search.selectors import search_posts


def index_pending() -> int:
    """Index every dirty thread, as the sweep would."""
    return services.sweep()


def found(query: str, **filters) -> list[int]:
    """Post ids the search page would list for `query`, in order."""
    return [hit.post_id for hit in search_posts(query=query, **filters).hits]


def make_post(*, author, board, title: str, body: str = "Nothing to see here."):
    return forum.post_create(author=author, board=board, title=title, body=body)
