from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Built concurrently: the ledger takes every enqueue and claim, and must not stop for it.
    atomic = False

    dependencies = [
        ("jobs", "0005_done_index_by_state"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="job",
            index=models.Index(
                condition=models.Q(("attempts__gt", 0), ("state", "scheduled")),
                fields=["class_name", "error_class"],
                name="job_retry_idx",
            ),
        ),
    ]
