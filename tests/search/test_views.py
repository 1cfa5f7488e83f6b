import pytest
from django.urls import reverse

from forum import services as forum
from search.selectors import MAX_QUERY_CHARS
from tests.search.helpers import index_pending, make_post

pytestmark = pytest.mark.django_db
URL = reverse("search:search")

HOSTILE_QUERIES = [
    '"',
    '"""',
    '"unclosed phrase',
    "\\",
    "\\\\\\",
    "naira\\",
    "'",
    "' OR 1=1 --",
    "'; DROP TABLE forum_post; --",
    "1; SELECT pg_sleep(5)",
    "%",
    "%%s",
    "%(q)s",
    "{0} {q}",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "&lt;b&gt;",
    "naira\x00dollar",
    "\x00",
    "\x01\x02\x1f",
    "\ue000jollof\ue001",
    "-",
    "--",
    "- - -",
    "-naira",
    "or",
    "or or or",
    "and & | ! ( ) : * <-> <2>",
    "!!!",
    "naira:*",
    "naira:A",
    "((((((((((naira",
    "naira))))))))",
    "🇳🇬 🔥",
    "Ọlọ́run Ìbàdàn ƙasa ụlọ",
    "\u202e\u200b\ufeff",
    "𝔫𝔞𝔦𝔯𝔞",
    "x" * 5000,
    "naira " * 500,
    "a" * 3000 + " naira",
    " ".join(f"word{i}" for i in range(400)),
    '"' * 200,
    "-" * 200,
    "\t\n\r  ",
]


@pytest.fixture
def indexed(user, board):
    post = make_post(author=user, board=board, title="Naira to dollar rate", body="Black market")
    index_pending()
    return post


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_queries_get_a_page_never_an_error(client, indexed, query):
    response = client.get(URL, {"q": query, "sort": "newest"})
    assert response.status_code == 200
    assert b"Search" in response.content


def test_hostile_filter_values_become_notices(client, indexed):
    response = client.get(
        URL,
        {
            "q": "naira",
            "board": "../etc",
            "author": "' OR 1=1",
            "date_from": "yesterday",
            "date_to": "2026-02-30",
            "sort": "random",
            "page": "-1",
        },
    )
    assert response.status_code == 200
    assert "to dollar rate" in response.content.decode()  # the query still ran
    assert b"There is no member" in response.content
    assert b"must be a date written YYYY-MM-DD" in response.content


def test_an_empty_query_shows_how_to_search(client):
    for params in ({}, {"q": ""}, {"q": "   \t "}):
        response = client.get(URL, params)
        assert response.status_code == 200
        assert b"Type a few words" in response.content
        assert b"finds the exact phrase" in response.content


def test_a_long_query_is_trimmed_with_a_notice(client, indexed):
    response = client.get(URL, {"q": "naira " + "x" * 300})
    page = response.content.decode()
    assert f"longer than {MAX_QUERY_CHARS} characters" in page
    assert "Nothing matches" in page


def test_results_show_highlighted_escaped_snippets_and_pages(client, user, board):
    for n in range(23):
        make_post(author=user, board=board, title=f"Fuel queue {n}", body="<b>fuel</b> wahala")
    index_pending()
    page = client.get(URL, {"q": "fuel", "board": board.slug}).content.decode()
    assert "23 results." in page
    assert "<mark>Fuel</mark> queue" in page
    assert "<b>fuel</b>" not in page
    assert "Page 1 of 2" in page and "page=2" in page
    second = client.get(URL, {"q": "fuel", "board": board.slug, "page": 2}).content.decode()
    assert second.count('class="topic-title"') == 3


def test_nothing_found_says_so(client, indexed):
    page = client.get(URL, {"q": "zobo"}).content.decode()
    assert "Nothing matches “zobo”" in page


def test_hidden_posts_never_show_even_to_moderators(client, user, board, moderator):
    post = make_post(author=user, board=board, title="Yahoo yahoo tricks")
    index_pending()
    forum.post_set_hidden(post=post, moderator=moderator, hidden=True)
    client.force_login(moderator)
    page = client.get(URL, {"q": "yahoo"}).content.decode()
    assert "Yahoo yahoo tricks" not in page and "Nothing matches" in page


def test_every_page_has_a_search_box(client, indexed):
    page = client.get(reverse("forum:index")).content.decode()
    assert f'action="{URL}"' in page and 'name="q"' in page
