from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0006_retry_index"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="process",
            options={
                "permissions": [("operate_workers", "Can quiet and stop workers")],
                "verbose_name_plural": "processes",
            },
        ),
        migrations.AddField(
            model_name="process",
            name="quiet_since",
            field=models.DateTimeField(
                blank=True,
                help_text="a worker told to take no new job (jobs.worker.control)",
                null=True,
            ),
        ),
    ]
