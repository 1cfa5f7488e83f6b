"""The scheduled daily summary and the expiry sweep as django-celery-beat entries, editable
in admin (Periodic tasks)."""

from django.db import migrations

from jobs.beat import add_daily_entry, remove_entry

DAILY_SUMMARY = "Daily summary report for staff"
EXPIRE = "Expire old reports"


def create(apps, schema_editor):
    add_daily_entry(
        apps, name=DAILY_SUMMARY, task="DailySummaryReportsJob", hour=12, minute=0, kwargs={},
        description="Builds yesterday's daily_summary (Lagos time) and sends it to every "
        "active staff member.",
    )
    add_daily_entry(
        apps, name=EXPIRE, task="ExpireReportsJob", hour=4, minute=15, kwargs={},
        description="Deletes the files of reports past their expiry (REPORTS_KEEP_DAYS) and "
        "fails reports whose job was lost.",
    )


def remove(apps, schema_editor):
    remove_entry(apps, name=DAILY_SUMMARY)
    remove_entry(apps, name=EXPIRE)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create, remove)]
