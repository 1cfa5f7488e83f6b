import pytest
from playwright.sync_api import expect

from forum.models import Comment, Post, PostLike, User
from tests.forum.factories import BoardFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_up(page, username: str) -> None:
    page.goto("/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_email", f"{username}@example.com")
    page.fill("#id_display_name", username.title())
    page.fill("#id_password1", "a-long-browser-passphrase")
    page.fill("#id_password2", "a-long-browser-passphrase")
    page.click("button:text('Sign up')")
    expect(page.locator(".messages")).to_contain_text(f"Welcome to Naija-Forum, {username.title()}")


def test_sign_up_post_comment_and_like(page):
    BoardFactory(name="Programming", slug="programming", section__name="Science/Technology")
    sign_up(page, "adaeze")

    page.click("text=Programming")
    page.click("text=New topic")
    page.fill("#id_title", "Django vs Laravel for Nigerian startups")
    page.fill("#id_body", "Which one **una** dey use?")
    page.click("button:text('Post')")
    expect(page.locator("h1")).to_have_text("Django vs Laravel for Nigerian startups")
    expect(page.locator(".post .body strong")).to_have_text("una")

    page.fill("#id_body", "Django all the way")
    page.click("button:text('Comment')")
    expect(page.locator(".comment .body")).to_have_text("Django all the way")
    expect(page.locator("#comments")).to_have_text("1 comment")

    page.click(".post button.like")
    expect(page.locator(".post button.like")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".post .like-count")).to_have_text("1")
    page.click(".comment button.like")
    expect(page.locator(".comment .like-count")).to_have_text("1")

    user = User.objects.get(username="adaeze")
    post = Post.objects.get()
    assert (post.author, post.comment_count, post.like_count) == (user, 1, 1)
    assert Comment.objects.get().like_count == 1
    assert PostLike.objects.filter(user=user, post=post).count() == 1


def test_form_errors_are_shown_and_nothing_is_saved(page):
    BoardFactory(name="Politics", slug="politics")
    sign_up(page, "emeka")
    page.goto("/b/politics/new/")
    page.fill("#id_title", "   ")
    page.fill("#id_body", "x")
    page.evaluate("document.querySelector('form.card').noValidate = true")
    page.click("button:text('Post')")
    expect(page.locator(".field.has-error .error")).to_contain_text("required")
    assert not Post.objects.exists()


def test_stored_script_does_not_execute(page):
    BoardFactory(name="Jokes Etc", slug="jokes")
    sign_up(page, "tunde")
    page.goto("/b/jokes/new/")
    page.fill("#id_title", "<script>alert('title')</script>")
    page.fill(
        "#id_body",
        "<img src=x onerror=\"alert('img')\"> <script>alert('body')</script> "
        "[tap](javascript:alert('link'))",
    )
    page.click("button:text('Post')")
    page.click("text=tap")
    page.goto("/b/jokes/")
    page.wait_for_load_state("networkidle")
    assert page.dialogs == []
    expect(page.locator(".topic-title")).to_have_text("<script>alert('title')</script>")
