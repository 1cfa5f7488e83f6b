"""The header's notification bell in real Chromium: a drawn icon (an emoji would be an empty
box without an emoji font), a name screen readers announce, and the unread count."""

import re

import pytest
from playwright.sync_api import expect

from forum import services as forum
from tests.conftest import PASSWORD
from tests.forum.factories import PostFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button:text('Log in')")
    expect(page.locator("header")).to_contain_text("Log out")


def test_the_bell_is_a_drawn_icon_named_for_screen_readers_with_the_unread_count(page):
    member, other = UserFactory(username="funke"), UserFactory(username="dayo")
    post = PostFactory(author=member, title="Lagos traffic")
    log_in(page, "funke")

    bell = page.locator("header a.bell")
    expect(bell).to_have_accessible_name("Notifications")
    expect(bell.locator(".badge")).to_have_count(0)
    icon = bell.locator("svg")
    expect(icon).to_have_count(1)
    expect(icon).to_be_visible()
    box = icon.bounding_box()
    assert box["width"] >= 16 and box["height"] >= 16
    # the path was laid out: the browser drew a shape, not an empty element
    shape = icon.locator("path").evaluate(
        "p => { const b = p.getBBox(); return [b.width, b.height] }"
    )
    assert shape[0] > 10 and shape[1] > 10
    assert "\U0001f514" not in page.locator("header").inner_text()  # no emoji left

    forum.comment_create(post=post, author=other, body="Third Mainland again")
    forum.post_like(post=post, user=other)
    page.reload()
    expect(bell).to_have_accessible_name(re.compile(r"^Notifications\s*2 unread$"))
    expect(bell.locator(".badge")).to_be_visible()
    expect(bell.locator(".badge")).to_have_text(re.compile(r"^2\s*unread$"))
    # what the eye sees: the number; "unread" is for screen readers, clipped to a pixel
    assert bell.locator(".badge").evaluate("b => b.firstChild.textContent") == "2"
    hidden = bell.locator(".badge .visually-hidden").bounding_box()
    assert hidden["width"] <= 1 and hidden["height"] <= 1
    page.get_by_role("link", name=re.compile("Notifications")).click()
    expect(page).to_have_url(re.compile("/notifications/$"))
