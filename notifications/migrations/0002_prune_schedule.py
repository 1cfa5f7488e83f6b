"""The daily prune of notification tables as a django-celery-beat entry, editable in admin."""

from django.db import migrations

from jobs.beat import add_daily_entry, remove_entry

NAME = "Prune old email deliveries and read notifications"


def create(apps, schema_editor):
    add_daily_entry(
        apps, name=NAME, task="PruneNotificationsJob", hour=3, minute=45,
        kwargs={"older_than_days": 30},
        description="Deletes email deliveries and read notifications older than 30 days.",
    )


def remove(apps, schema_editor):
    remove_entry(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(create, remove)]
