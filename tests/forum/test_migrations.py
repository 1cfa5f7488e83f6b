"""Forum's data migrations: the Moderators group (0003)."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.forum.factories import UserFactory

MODERATION = {
    "forum.hide_content",
    "forum.view_post",
    "forum.view_comment",
    "reports.view_report",
    "jobs.view_job",
    "jobs.view_process",
    "jobs.view_queuepause",
    "django_celery_beat.view_periodictask",
}
NOT_MODERATION = {
    "notifications.view_emaildelivery",  # mail bodies
    "jobs.change_job",
    "jobs.add_queuepause",
    "jobs.delete_queuepause",  # operating jobs
    "django_celery_beat.change_periodictask",
    "django_celery_results.view_taskresult",
    "forum.delete_post",
    "forum.delete_comment",
    "forum.change_post",  # irreversible, editing
    "forum.change_user",
    "auth.change_group",
}


def test_the_moderators_group_can_moderate_and_read_jobs_but_not_operate_or_read_mail(moderator):
    assert moderator.get_all_permissions() == MODERATION
    assert not any(moderator.has_perm(name) for name in NOT_MODERATION)


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_existing_staff_moderators_and_no_one_else():
    executor = MigrationExecutor(connection)
    executor.migrate([("forum", "0002_hide_permissions")])
    assert not Group.objects.filter(name="Moderators").exists()
    staff = UserFactory(is_staff=True)
    superuser = UserFactory(is_staff=True, is_superuser=True)
    member = UserFactory()

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    moderators = Group.objects.get(name="Moderators")
    assert list(moderators.user_set.all()) == [staff]
    assert not superuser.groups.exists() and not member.groups.exists()
