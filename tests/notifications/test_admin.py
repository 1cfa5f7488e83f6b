"""Email deliveries and notifications in Django admin."""

import pytest
from django.utils.html import escape

from forum import services as forum
from notifications import services
from tests.forum.factories import PostFactory
from tests.notifications.helpers import run_email_jobs

pytestmark = pytest.mark.django_db


def test_operators_find_why_an_email_was_not_sent(admin_client, user, other_user):
    services.email_preferences_set(user=user, enabled={"new_comment": False})
    forum.comment_create(post=PostFactory(author=user), author=other_user, body="Hello")
    run_email_jobs()
    page = admin_client.get("/admin/notifications/emaildelivery/?status=skipped").content.decode()
    assert user.email in page and "preference_off: the member turned this email off" in page
    page = admin_client.get("/admin/notifications/notification/").content.decode()
    assert "Someone comments on your post" in page and escape(user.name) in page
