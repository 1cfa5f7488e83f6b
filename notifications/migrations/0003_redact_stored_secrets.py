"""Redact the reset links and unsubscribe tokens that delivery rows stored before the log
kept a redacted copy (notifications.redaction). One way: the secrets are not kept."""

from django.db import migrations

from notifications.redaction import redact, redact_headers

BATCH = 1000


def redact_stored(apps, schema_editor):
    EmailDelivery = apps.get_model("notifications", "EmailDelivery")
    fields = ["subject", "body_text", "body_html", "headers"]
    changed = []
    for row in EmailDelivery.objects.only("pk", *fields).iterator(chunk_size=BATCH):
        before = [getattr(row, name) for name in fields]
        row.subject = redact(row.subject)
        row.body_text = redact(row.body_text)
        row.body_html = redact(row.body_html)
        row.headers = redact_headers(row.headers or {})
        if [getattr(row, name) for name in fields] != before:
            changed.append(row)
        if len(changed) >= BATCH:
            EmailDelivery.objects.bulk_update(changed, fields)
            changed = []
    EmailDelivery.objects.bulk_update(changed, fields)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0002_prune_schedule")]
    operations = [migrations.RunPython(redact_stored, migrations.RunPython.noop)]
