import pytest
from django.test import Client
from django.urls import reverse

from forum import services
from forum.models import Comment, Post, User
from tests.conftest import PASSWORD
from tests.forum.factories import BoardFactory, CommentFactory, PostFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_index_lists_boards_by_section(client):
    board = BoardFactory(name="Politics", section__name="Nairaland General")
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nairaland General" in html
    assert board.get_absolute_url() in html


def test_board_page_shows_newest_activity_first_and_paginates(client, board, settings):
    settings.FORUM_POSTS_PER_PAGE = 2
    author = UserFactory()
    old, mid, new = (
        services.post_create(author=author, board=board, title=t, body="b")
        for t in ("Old thread", "Mid thread", "Fresh thread")
    )
    services.comment_create(post=old, author=UserFactory(), body="bump")  # old is now the freshest
    page1 = client.get(board.get_absolute_url()).content.decode()
    assert page1.index("Old thread") < page1.index("Fresh thread")
    assert "Mid thread" not in page1
    assert "Mid thread" in client.get(board.get_absolute_url() + "?page=2").content.decode()
    assert client.get(board.get_absolute_url() + "?page=abc").status_code == 200


def test_unknown_board_post_comment_and_user_are_404(user_client):
    client = user_client
    for url in ("/b/no-such-board/", "/p/999999/", "/c/999999/edit/", "/u/nobody/"):
        assert client.get(url).status_code == 404, url


def test_member_creates_post_from_the_form(user_client, board):
    response = user_client.post(
        reverse("forum:post_create", args=[board.slug]),
        {"title": "Japa diaries", "body": "UK visa *process*"},
    )
    post = Post.objects.get()
    assert response.status_code == 302 and response.url == post.get_absolute_url()
    assert "<em>process</em>" in user_client.get(post.get_absolute_url()).content.decode()


def test_post_form_errors_state_the_limit_and_save_nothing(user_client, board):
    response = user_client.post(
        reverse("forum:post_create", args=[board.slug]), {"title": "t" * 151, "body": ""}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "at most 150 characters" in html
    assert "This field is required" in html
    assert not Post.objects.exists()


def test_anonymous_users_are_sent_to_log_in(client, board):
    response = client.get(reverse("forum:post_create", args=[board.slug]))
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_editing_or_deleting_someone_elses_post_is_403(client, user, board):
    post = PostFactory(board=board, title="Not yours")
    client.force_login(user)
    assert client.get(reverse("forum:post_edit", args=[post.pk])).status_code == 403
    assert (
        client.post(
            reverse("forum:post_edit", args=[post.pk]), {"title": "x", "body": "y"}
        ).status_code
        == 403
    )
    assert client.post(reverse("forum:post_delete", args=[post.pk])).status_code == 403
    comment = CommentFactory(post=post)
    assert (
        client.post(reverse("forum:comment_edit", args=[comment.pk]), {"body": "y"}).status_code
        == 403
    )
    assert client.post(reverse("forum:comment_delete", args=[comment.pk])).status_code == 403
    post.refresh_from_db()
    assert post.title == "Not yours"
    assert Comment.objects.filter(pk=comment.pk).exists()


def test_author_edits_and_deletes_own_post(client, user, board):
    post = services.post_create(author=user, board=board, title="Typo tittle", body="b")
    client.force_login(user)
    client.post(reverse("forum:post_edit", args=[post.pk]), {"title": "Typo title", "body": "b2"})
    post.refresh_from_db()
    assert (post.title, post.body) == ("Typo title", "b2")
    response = client.post(reverse("forum:post_delete", args=[post.pk]))
    assert response.status_code == 302 and response.url == board.get_absolute_url()
    assert not Post.objects.exists()


def test_comment_and_like_through_the_post_page(client, user, board):
    post = PostFactory(board=board)
    client.force_login(user)
    response = client.post(reverse("forum:comment_create", args=[post.pk]), {"body": "First!"})
    comment = Comment.objects.get()
    assert response.status_code == 302 and f"#comment-{comment.pk}" in response.url
    client.post(reverse("forum:post_like", args=[post.pk]))
    client.post(reverse("forum:post_like", args=[post.pk]))
    client.post(reverse("forum:comment_like", args=[comment.pk]))
    post.refresh_from_db()
    comment.refresh_from_db()
    assert (post.like_count, post.comment_count, comment.like_count) == (1, 1, 1)
    html = client.get(post.get_absolute_url()).content.decode()
    assert 'aria-pressed="true"' in html
    client.post(reverse("forum:post_like", args=[post.pk]), {"action": "unlike"})
    post.refresh_from_db()
    assert post.like_count == 0


def thread_with_comments(board, count: int):
    post = PostFactory(board=board)
    for n in range(count):
        services.comment_create(post=post, author=UserFactory(), body=f"Comment {n}")
    return post


def test_a_new_comment_takes_the_member_to_the_page_that_shows_it_at_its_anchor(
    client, user, board, settings
):
    settings.FORUM_COMMENTS_PER_PAGE = 5
    post = thread_with_comments(board, 10)
    client.force_login(user)
    response = client.post(reverse("forum:comment_create", args=[post.pk]), {"body": "Eleventh"})
    comment = Comment.objects.get(body="Eleventh")
    assert response.url == f"{post.get_absolute_url()}?page=3#comment-{comment.pk}"
    assert f'id="comment-{comment.pk}"' in client.get(response.url).content.decode()


def test_editing_or_liking_a_comment_returns_to_its_page_at_its_anchor(
    client, user, moderator, board, settings
):
    settings.FORUM_COMMENTS_PER_PAGE = 5
    post = thread_with_comments(board, 10)
    services.comment_set_hidden(comment=post.comments.first(), moderator=moderator, hidden=True)
    comment = services.comment_create(post=post, author=user, body="Mine")
    for n in range(5):
        services.comment_create(post=post, author=UserFactory(), body=f"Later {n}")
    # Members see nine comments before it (page 2 of 3); moderators see the hidden one too (3 of 4).
    on_its_page = f"{post.get_absolute_url()}?page=2#comment-{comment.pk}"
    client.force_login(user)
    edit_url = reverse("forum:comment_edit", args=[comment.pk])
    assert f'href="{on_its_page}"' in client.get(edit_url).content.decode()  # Cancel
    assert client.post(edit_url, {"body": "Mine, edited"}).url == on_its_page
    assert f'id="comment-{comment.pk}"' in client.get(on_its_page).content.decode()
    assert client.post(reverse("forum:comment_like", args=[comment.pk])).url == on_its_page
    client.force_login(moderator)
    on_page_three = f"{post.get_absolute_url()}?page=3#comment-{comment.pk}"
    assert client.post(reverse("forum:comment_like", args=[comment.pk])).url == on_page_three
    assert f'id="comment-{comment.pk}"' in client.get(on_page_three).content.decode()


def test_empty_comment_is_refused_with_a_message(user_client, board):
    post = PostFactory(board=board)
    response = user_client.post(reverse("forum:comment_create", args=[post.pk]), {"body": "   "})
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert not Comment.objects.exists()


def test_like_requires_post(user_client, board):
    post = PostFactory(board=board)
    assert user_client.get(reverse("forum:post_like", args=[post.pk])).status_code == 405


def test_csrf_is_enforced(user, board):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(
        reverse("forum:post_create", args=[board.slug]), {"title": "t", "body": "b"}
    )
    assert response.status_code == 403
    assert not Post.objects.exists()


def test_stored_xss_renders_inert(client, user, board):
    post = services.post_create(
        author=user,
        board=board,
        title="<script>alert('title')</script>",
        body="<img src=x onerror=alert(1)> [x](javascript:alert(2))",
    )
    services.comment_create(post=post, author=user, body="<script>alert(3)</script>hello")
    html = client.get(post.get_absolute_url()).content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;" in html
    assert "onerror" not in html and "javascript:alert" not in html
    assert "<script>alert" not in client.get(board.get_absolute_url()).content.decode()


def test_hidden_content_is_shown_to_moderators_only(client, user, staff, moderator, board):
    post = PostFactory(board=board, title="Hidden topic", is_hidden=True)
    visible = PostFactory(board=board, title="Visible topic")
    CommentFactory(post=visible, body="secret comment", is_hidden=True)
    for not_allowed in (user, staff):  # is_staff alone sees no more than a member
        client.force_login(not_allowed)
        assert client.get(post.get_absolute_url()).status_code == 404
        assert "Hidden topic" not in client.get(board.get_absolute_url()).content.decode()
        assert "secret comment" not in client.get(visible.get_absolute_url()).content.decode()
        assert "Hidden topic" not in client.get(post.author.get_absolute_url()).content.decode()
    client.force_login(moderator)
    assert client.get(post.get_absolute_url()).status_code == 200
    assert "Hidden topic" in client.get(board.get_absolute_url()).content.decode()
    assert "secret comment" in client.get(visible.get_absolute_url()).content.decode()


def test_hide_and_delete_buttons_show_to_who_may_use_them(
    client, user, staff, moderator, admin, board
):
    post = services.post_create(author=user, board=board, title="Spam", body="x")
    services.comment_create(post=post, author=user, body="more")
    hide, delete = ">Hide</button>", ">Delete</a>"
    expected = {user: (0, 2), staff: (0, 0), moderator: (2, 0), admin: (2, 2)}
    for viewer, (hides, deletes) in expected.items():
        client.force_login(viewer)
        page = client.get(post.get_absolute_url()).content.decode()
        assert (page.count(hide), page.count(delete)) == (hides, deletes), viewer


def test_the_hide_button_hides_a_post_for_a_moderator(client, staff, moderator, board):
    post = services.post_create(author=UserFactory(), board=board, title="Spam", body="x")
    client.force_login(staff)
    assert (
        client.post(reverse("forum:post_hide", args=[post.pk]), {"hidden": "1"}).status_code == 403
    )
    client.force_login(moderator)
    client.post(reverse("forum:post_hide", args=[post.pk]), {"hidden": "1"})
    post.refresh_from_db()
    assert post.is_hidden
    client.force_login(UserFactory())
    assert (
        client.post(reverse("forum:post_hide", args=[post.pk]), {"hidden": "0"}).status_code == 404
    )


def test_sign_up_logs_in_and_rejects_duplicate_email(client):
    data = {
        "username": "ngozi",
        "email": "ngozi@example.com",
        "display_name": "Ngozi A.",
        "password1": "a-good-long-passphrase",
        "password2": "a-good-long-passphrase",
    }
    response = client.post("/accounts/signup/", data)
    assert response.status_code == 302
    assert "Ngozi A." in client.get("/").content.decode()
    client.logout()
    response = client.post(
        "/accounts/signup/", {**data, "username": "ngozi2", "email": "NGOZI@example.com"}
    )
    assert "An account with this email already exists" in response.content.decode()
    assert User.objects.count() == 1


def test_log_in_with_email_or_username_and_log_out(client, user):
    for login in (user.username, user.email.upper()):
        response = client.post("/accounts/login/", {"username": login, "password": PASSWORD})
        assert response.status_code == 302, login
        assert client.post("/accounts/logout/").status_code == 302
    response = client.post("/accounts/login/", {"username": user.email, "password": "wrong"})
    assert "Please enter a correct" in response.content.decode()


def test_change_password(client, user):
    client.force_login(user)
    response = client.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "brand-new-passphrase",
            "new_password2": "brand-new-passphrase",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("brand-new-passphrase")


def test_profile_lists_the_users_posts(client, user):
    PostFactory(author=user, title="My first topic")
    html = client.get(user.get_absolute_url()).content.decode()
    assert "My first topic" in html
