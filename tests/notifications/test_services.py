"""Notification services: preferences, pruning and its daily schedule."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from forum import services as forum
from notifications import services
from notifications.models import EmailDelivery, Notification
from notifications.tasks import PruneNotificationsJob
from tests.forum.factories import PostFactory
from tests.notifications.helpers import run_email_jobs

pytestmark = pytest.mark.django_db


def test_security_emails_cannot_be_turned_off(user):
    with pytest.raises(ValueError, match="security_alert emails cannot be turned off"):
        services.email_preferences_set(user=user, enabled={"security_alert": False})


def test_prune_runs_daily_from_beat():
    entry = PeriodicTask.objects.get(task="PruneNotificationsJob")
    assert (entry.crontab.hour, entry.crontab.minute, entry.kwargs) == (
        "3",
        "45",
        '{"older_than_days": 30}',
    )


def test_old_deliveries_and_read_notifications_are_pruned(user, other_user):
    forum.comment_create(post=PostFactory(author=user), author=other_user, body="Old news")
    forum.comment_create(post=PostFactory(author=user), author=other_user, body="Unread")
    run_email_jobs()
    first = Notification.objects.order_by("pk").first()
    services.notification_mark_read(user=user, notification_id=first.pk)
    long_ago = timezone.now() - timedelta(days=31)
    Notification.objects.filter(pk=first.pk).update(read_at=long_ago)
    EmailDelivery.objects.filter(notification=first).update(created_at=long_ago)
    pruned = PruneNotificationsJob(older_than_days=30)  # what beat runs
    assert pruned == {"email_deliveries": 1, "notifications": 1}
    assert list(Notification.objects.values_list("comment__body", flat=True)) == ["Unread"]
