"""The search sweep as a django-celery-beat entry, editable in admin (Periodic tasks)."""

from django.db import migrations

NAME = "Sweep the search index (dirty rows, old index versions)"


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={"task": "SearchSweepJob", "interval": schedule, "queue": "search",
                  "description": "Indexes posts a lost message left dirty, and rebuilds rows "
                                 "of an older index version in the background."},
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("search", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(create, remove)]
