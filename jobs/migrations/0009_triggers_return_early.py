# The 0008 trigger functions, each returning at once when its statement changed no row it
# counts. Most statements of the hot path count nothing: a claim (ready → claimed, an INSERT …
# ON CONFLICT DO UPDATE that fires both triggers), a publish, a promotion. Without the check
# each still ran five INSERT … SELECT joins of its transition tables: about 50 µs of
# PostgreSQL CPU per claim out of 240 (docs/PERFORMANCE.md, issue 20).

import importlib

from django.db import migrations

ATTEMPTS = importlib.import_module("jobs.migrations.0008_attempts_and_stats")

# Every row one of the UPDATE trigger's three inserts takes: a state change out of `claimed`
# (a run ended: attempt, stat, recovered/duration metrics) or into an outcome state.
TRANSITIONS = ATTEMPTS.TRANSITIONS.replace(
    "BEGIN\n",
    """BEGIN
    IF NOT EXISTS (SELECT FROM new_rows n JOIN old_rows o USING (id)
                   WHERE n.state <> o.state AND (o.state = 'claimed'
                         OR n.state IN ('finished', 'failed', 'scheduled', 'discarded'))) THEN
        RETURN NULL;
    END IF;
""",
    1,
)
# An INSERT … ON CONFLICT DO UPDATE that updated its row inserted none.
INSERTS = ATTEMPTS.INSERTS.replace(
    "BEGIN\n",
    """BEGIN
    IF NOT EXISTS (SELECT FROM new_rows) THEN
        RETURN NULL;
    END IF;
""",
    1,
)
assert TRANSITIONS != ATTEMPTS.TRANSITIONS and INSERTS != ATTEMPTS.INSERTS


class Migration(migrations.Migration):
    dependencies = [("jobs", "0008_attempts_and_stats")]

    operations = [
        migrations.RunSQL(TRANSITIONS + INSERTS, ATTEMPTS.TRANSITIONS + ATTEMPTS.INSERTS),
    ]
