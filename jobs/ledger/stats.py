"""Folding the per-minute job stats (jobs.JobStat) the ledger's triggers add as deltas.

Each statement that enqueues or ends jobs inserts one delta row per minute, queue and class
(migration 0008): inserts only, so that two workers or two requests never wait on one
counter row. The dispatcher folds them about once a minute (`compact`): one row per minute,
queue and class for the last day, per hour for the last week, per day before that — a week of
charts reads a few thousand rows, and /metrics' all-time `enqueued` a few more.
"""

from __future__ import annotations

from django.db import connection, transaction

# Buckets younger than this may still receive deltas from statements running now.
SETTLE = "2 minutes"

_FOLD = """
    CASE WHEN {b} < now() - interval '7 days' THEN date_trunc('day', {b})
         WHEN {b} < now() - interval '24 hours' THEN date_trunc('hour', {b})
         ELSE {b} END
"""

COMPACT = f"""
WITH groups AS (
    SELECT {_FOLD.format(b="bucket")} AS folded, queue, class_name
    FROM jobs_jobstat WHERE bucket < now() - interval '{SETTLE}'
    GROUP BY 1, 2, 3
    HAVING count(*) > 1 OR bool_or(bucket <> {_FOLD.format(b="bucket")})
), gone AS (
    DELETE FROM jobs_jobstat s USING groups g
    WHERE s.bucket < now() - interval '{SETTLE}' AND s.queue = g.queue
      AND s.class_name = g.class_name AND {_FOLD.format(b="s.bucket")} = g.folded
    RETURNING {_FOLD.format(b="s.bucket")} AS folded, s.*
), folded AS (
    INSERT INTO jobs_jobstat (bucket, queue, class_name, enqueued, finished, failed, retried,
        discarded, runs, wait_sum, wait_max)
    SELECT folded, queue, class_name, sum(enqueued), sum(finished), sum(failed), sum(retried),
        sum(discarded), sum(runs), sum(wait_sum), max(wait_max)
    FROM gone GROUP BY 1, 2, 3
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM folded)
"""


def compact() -> tuple[int, int]:
    """Fold settled delta rows; returns (rows removed, rows written). One statement, under a
    transaction-level advisory lock so that two dispatchers never fold at once (the second
    skips: the first does the same work)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext('jobs.ledger.stats.compact'))")
        if not cursor.fetchone()[0]:
            return 0, 0
        cursor.execute(COMPACT)
        removed, written = cursor.fetchone()
        return int(removed), int(written)
