import random
from datetime import timedelta

import pytest
from django.utils import timezone

from forum import services as forum
from forum.models import Post
from search.selectors import MAX_QUERY_CHARS, clean_query, search_posts
from tests.forum.factories import BoardFactory, UserFactory
from tests.search.helpers import found, index_pending, make_post

pytestmark = pytest.mark.django_db


def test_a_title_match_ranks_above_a_body_match(user, board):
    in_body = make_post(author=user, board=board, title="Market gist", body="Garri price don rise")
    in_title = make_post(author=user, board=board, title="Garri price today", body="Make una see")
    index_pending()
    assert found("garri") == [in_title.pk, in_body.pk]


def test_negated_words_leave_out_the_posts_that_have_them(user, board):
    with_gen = make_post(author=user, board=board, title="Fuel price", body="My generator")
    without = make_post(author=user, board=board, title="Fuel price", body="Solar panels")
    index_pending()
    assert found("fuel -generator") == [without.pk]
    assert set(found("fuel")) == {with_gen.pk, without.pk}


def test_or_finds_either_word_and_quotes_find_the_phrase(user, board):
    lagos = make_post(author=user, board=board, title="Rent in Lagos", body="Too high")
    abuja = make_post(author=user, board=board, title="Rent in Abuja", body="Even higher")
    phrase = make_post(author=user, board=board, title="Japa visa tips", body="Apply early")
    scattered = make_post(author=user, board=board, title="Visa wahala", body="No japa for me")
    index_pending()
    assert set(found("lagos or abuja")) == {lagos.pk, abuja.pk}
    assert found('"japa visa"') == [phrase.pk]
    assert set(found("japa visa")) == {phrase.pk, scattered.pk}


def test_stemming_matches_other_forms_of_a_word(user, board):
    post = make_post(author=user, board=board, title="Elections are coming", body="Vote wisely")
    index_pending()
    assert found("election") == [post.pk]


def test_pidgin_stop_words_still_match_through_the_simple_fallback(user, board):
    post = make_post(author=user, board=board, title="No be so", body="Na so e be.")
    other = make_post(author=user, board=board, title="Something else", body="Entirely.")
    index_pending()
    assert found("no be so") == [post.pk]
    assert other.pk not in found("no be so")


def test_comment_text_finds_its_thread(user, board):
    post = make_post(author=user, board=board, title="Help me", body="Which phone to buy?")
    forum.comment_create(post=post, author=user, body="Buy a tecno camon, e strong")
    index_pending()
    assert found("tecno camon") == [post.pk]


def test_filters_by_board_author_and_date(user, board):
    other_board, other_author = BoardFactory(), UserFactory()
    mine = make_post(author=user, board=board, title="Suya spots", body="Best suya")
    theirs = make_post(author=other_author, board=other_board, title="Suya joints", body="Suya")
    old = make_post(author=user, board=board, title="Suya memories", body="Old suya")
    Post.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    forum.post_update(post=old, editor=user, title="Suya memories", body="Old suya, edited")
    index_pending()
    today = timezone.localdate()
    assert set(found("suya", board=board)) == {mine.pk, old.pk}
    assert found("suya", author=other_author) == [theirs.pk]
    assert set(found("suya", date_from=today - timedelta(days=30))) == {mine.pk, theirs.pk}
    assert found("suya", date_to=today - timedelta(days=30)) == [old.pk]


def test_newest_sort_and_pages(user, board):
    posts = [make_post(author=user, board=board, title=f"Okada ban {i}") for i in range(5)]
    for age, post in enumerate(posts):
        Post.objects.filter(pk=post.pk).update(created_at=timezone.now() - timedelta(hours=age))
        forum.post_update(post=post, editor=user, title=post.title, body="Okada ban news")
    index_pending()
    first = search_posts(query="okada", sort="newest", per_page=2)
    assert [hit.post_id for hit in first.hits] == [posts[0].pk, posts[1].pk]
    assert (first.total, first.num_pages, first.has_next, first.has_previous) == (5, 3, True, False)
    last = search_posts(query="okada", sort="newest", per_page=2, page=3)
    assert [hit.post_id for hit in last.hits] == [posts[4].pk]
    assert not last.has_next
    beyond = search_posts(query="okada", sort="newest", per_page=2, page=9)
    assert beyond.hits == [] and beyond.total == 5


def test_an_edit_replaces_the_old_words(user, board):
    post = make_post(author=user, board=board, title="Selling my Corolla", body="Clean car")
    index_pending()
    forum.post_update(post=post, editor=user, title="Selling my Camry", body="Clean car")
    index_pending()
    assert found("corolla") == []
    assert found("camry") == [post.pk]


def test_hidden_and_deleted_content_never_shows(user, board, moderator):
    hidden = make_post(author=user, board=board, title="Ponzi scheme", body="Double your money")
    deleted = make_post(author=user, board=board, title="Ponzi again", body="Double money")
    thread = make_post(author=user, board=board, title="Savings tips", body="Keep money")
    bad = forum.comment_create(post=thread, author=user, body="Join my ponzi scheme")
    gone = forum.comment_create(post=thread, author=user, body="Crypto doubler scam")
    index_pending()
    assert set(found("ponzi")) == {hidden.pk, deleted.pk, thread.pk}

    # No indexing run in between: removal happens with the hide or delete itself.
    forum.post_set_hidden(post=hidden, moderator=moderator, hidden=True)
    forum.post_delete(post=deleted, actor=user)
    forum.comment_set_hidden(comment=bad, moderator=moderator, hidden=True)
    forum.comment_delete(comment=gone, actor=user)
    assert found("ponzi") == []
    assert found("doubler") == []
    assert found("savings") == [thread.pk]

    forum.post_set_hidden(post=hidden, moderator=moderator, hidden=False)
    index_pending()
    assert found("ponzi") == [hidden.pk]


def test_snippets_and_titles_are_escaped_with_only_our_highlight_markup(user, board):
    make_post(
        author=user,
        board=board,
        title="<b>Bold</b> jollof \ue000trick\ue001",
        body='Best jollof <script>alert("x")</script> <img src=x onerror=alert(1)>',
    )
    index_pending()
    (hit,) = search_posts(query="jollof").hits
    assert "<mark>jollof</mark>" in hit.snippet_html.lower()
    # ts_headline drops what it parses as tags; what is left is escaped
    assert "<script" not in hit.snippet_html and "<img" not in hit.snippet_html
    assert "&lt;img src=x onerror=alert" in hit.snippet_html
    assert "<b>" not in hit.title_html and "&lt;b&gt;" in hit.title_html
    assert hit.title_html.count("<mark>") == hit.title_html.count("</mark>") == 1


def test_long_queries_are_trimmed_and_control_characters_dropped():
    query = clean_query("  naira\x00 \t dollar " + "x" * 300)
    assert query.trimmed and len(query.text) <= MAX_QUERY_CHARS
    assert query.text.startswith("naira dollar ")
    assert clean_query("  \n\t ") == clean_query("")
    assert not clean_query("a" * MAX_QUERY_CHARS).trimmed


def test_a_query_without_words_says_so(user, board):
    make_post(author=user, board=board, title="Anything", body="at all")
    index_pending()
    results = search_posts(query="!!! & |")
    assert not results.searchable and results.hits == []


def test_random_operator_soup_never_raises(user, board, caplog):
    make_post(author=user, board=board, title="Naira or dollar", body="Black market rate")
    index_pending()
    rng = random.Random(2005)
    pieces = ["-", '"', "!", "(", ")", "&", "|", ":", "*", "<", ">", " ", " or ", "naira", "\\"]
    for _ in range(300):
        query = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 120)))
        results = search_posts(query=query)  # raises on any database error
        assert results.hits == [] or results.hits[0].title_html
    assert "unparsable" not in caplog.text  # cleaning left PostgreSQL nothing to choke on
