"""The daily prune as a django-celery-beat entry, editable in admin (Periodic tasks)."""

from django.db import migrations

NAME = "Prune finished jobs and old task results"


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="3", day_of_week="*", day_of_month="*", month_of_year="*",
        timezone="Africa/Lagos",
    )
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={"task": "PruneJobsJob", "crontab": schedule, "kwargs": '{"older_than_days": 7}',
                  "description": "Deletes finished/discarded jobs and task results older than 7 days."},
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(create, remove)]
