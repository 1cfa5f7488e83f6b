"""The daily prune as a django-celery-beat entry, editable in admin (Periodic tasks)."""

from django.db import migrations

from jobs.beat import add_daily_entry, remove_entry

NAME = "Prune finished jobs and old task results"


def create(apps, schema_editor):
    add_daily_entry(
        apps, name=NAME, task="PruneJobsJob", hour=3, minute=30, kwargs={"older_than_days": 7},
        description="Deletes finished/discarded jobs and task results older than 7 days.",
    )


def remove(apps, schema_editor):
    remove_entry(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(create, remove)]
