"""The bell, the notifications page, email preferences, unsubscribe and the staff mail log."""

import re

import pytest
from django.utils.html import escape

from forum import services as forum
from notifications.models import EmailPreference
from notifications.selectors import unsubscribe_path
from tests.conftest import PASSWORD
from tests.forum.factories import PostFactory, UserFactory
from tests.notifications.helpers import email_jobs, mail_reader, run_email_jobs

pytestmark = pytest.mark.django_db


def bell(client) -> str:
    header = client.get("/").content.decode().split("</header>")[0]
    return re.search(r'class="bell"[^>]*>(.*?)</a>', header, re.S).group(1)


def test_bell_counts_unread_and_reading_one_goes_to_the_comment(user_client, user, other_user):
    post = PostFactory(author=user, title="Lagos traffic")
    comment = forum.comment_create(post=post, author=other_user, body="Third Mainland again")
    forum.post_like(post=post, user=other_user)
    assert '<span class="badge">2<span class="visually-hidden"> unread</span></span>' in bell(
        user_client
    )
    page = user_client.get("/notifications/").content.decode()
    assert f"{escape(other_user.name)} commented on “Lagos traffic”" in page
    assert f"{escape(other_user.name)} liked what you wrote in “Lagos traffic”" in page
    notification = user.notifications.get(comment=comment)
    response = user_client.post(f"/notifications/{notification.pk}/read/")
    assert response.url == f"/p/{post.pk}/#comment-{comment.pk}"
    assert '<span class="badge">1<span class="visually-hidden"> unread</span></span>' in bell(
        user_client
    )
    response = user_client.post("/notifications/read-all/", follow=True)
    assert "Marked 1 notification read." in response.content.decode()
    assert "badge" not in bell(user_client)


def test_members_cannot_read_each_others_notifications(client, user, other_user):
    forum.comment_create(post=PostFactory(author=user), author=other_user, body="Hi")
    client.force_login(other_user)
    notification = user.notifications.get()
    assert client.post(f"/notifications/{notification.pk}/read/").status_code == 404
    assert user.notifications.get().read_at is None


def test_preferences_page_turns_types_off_but_offers_no_security_switch(user_client, user):
    page = user_client.get("/notifications/email/").content.decode()
    assert "Someone comments on your post" in page and 'name="security_alert"' not in page
    form = {"welcome": "on", "new_comment": "on", "reminder": "on", "report_ready": "on"}
    response = user_client.post("/notifications/email/", form, follow=True)
    assert "Email preferences saved." in response.content.decode()
    off = EmailPreference.objects.filter(user=user, enabled=False)
    assert list(off.values_list("notification_type", flat=True)) == ["new_like"]


def test_unsubscribe_link_asks_on_get_and_unsubscribes_on_post_logged_out(client, user):
    path = unsubscribe_path(user_id=user.pk, notification_type="new_comment")
    page = client.get(path).content.decode()
    assert "Someone comments on your post" in page and "<form" in page
    assert not EmailPreference.objects.exists()  # link scanners must not unsubscribe anyone
    assert "You are unsubscribed" in client.post(path).content.decode()
    assert client.post(path).status_code == 200  # a second click is harmless
    assert EmailPreference.objects.get().enabled is False


def test_tampered_unsubscribe_link_is_refused_with_advice(client, user):
    path = unsubscribe_path(user_id=user.pk, notification_type="new_comment")
    response = client.post(path.replace("/unsubscribe/", "/unsubscribe/x"))
    assert response.status_code == 400
    assert "This unsubscribe link is not valid" in response.content.decode()
    assert not EmailPreference.objects.exists()


def test_unsubscribe_link_of_a_deleted_account_says_so(client, user):
    path = unsubscribe_path(user_id=user.pk, notification_type="new_comment")
    user.delete()
    assert "This account no longer exists" in client.post(path).content.decode()


def test_mail_readers_see_every_email_with_its_rendered_parts(client, user, other_user):
    forum.comment_create(post=PostFactory(author=user), author=other_user, body="Gist for you")
    run_email_jobs()
    client.force_login(mail_reader())
    listing = client.get("/notifications/deliveries/").content.decode()
    assert user.email in listing and "commented on" in listing
    detail_url = re.search(r'href="(/notifications/deliveries/\d+/)"', listing).group(1)
    detail = client.get(detail_url).content.decode()
    assert "Gist for you" in detail and "List-Unsubscribe" in detail and "srcdoc=" in detail


def test_members_cannot_see_the_mail_log(user_client):
    assert user_client.get("/notifications/deliveries/").status_code == 302  # to the login


def test_changing_email_needs_the_password_and_alerts_the_old_address(user_client, user):
    old = user.email
    response = user_client.post("/accounts/email/", {"email": "new@example.com", "password": "x"})
    assert "That is not your current password." in response.content.decode()
    taken = UserFactory().email
    response = user_client.post("/accounts/email/", {"email": taken, "password": PASSWORD})
    assert "Another account uses this email address." in response.content.decode()
    response = user_client.post(
        "/accounts/email/", {"email": "New@Example.com", "password": PASSWORD}, follow=True
    )
    assert "Your email address is now new@example.com" in response.content.decode()
    [alert] = email_jobs("security_alert")
    assert alert.queue == "high_priority"
    assert alert.kwargs["data"] == {
        "event": "email_changed",
        "old_email": old,
        "new_email": "new@example.com",
    }


def test_password_change_queues_a_security_alert(user_client):
    new = {"new_password1": "brand-new-passphrase", "new_password2": "brand-new-passphrase"}
    response = user_client.post("/accounts/password_change/", {"old_password": PASSWORD, **new})
    assert response.status_code == 302
    [alert] = email_jobs("security_alert")
    assert alert.queue == "high_priority" and alert.kwargs["data"]["event"] == "password_changed"
