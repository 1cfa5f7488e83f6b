"""Statements PostgreSQL parses and plans once per connection, on Django's own connection:
for the few reads every email job runs (notifications.selectors).

Django's cursors bind parameters on the client and never prepare, and Django opens its
connection with psycopg's preparation off (prepare_threshold=None, for connection poolers).
`fetchone` binds on the server, so psycopg prepares a statement on its
PREPARE_THRESHOLD-th run on the connection; an explicit OPTIONS["prepare_threshold"] in
DATABASES (None behind a pooler that cannot keep prepared statements) is obeyed. It is
Django's connection all the same: the same transaction and Django's error wrapping; where
queries are logged (DEBUG, a test counting queries) it is Django's own cursor, so the log
shows the SQL. Statements must be single and use no client-side formatting.

A migration that changes the type of a column a prepared statement returns makes PostgreSQL
refuse that statement on every connection that prepared it ("cached plan must not change
result type"): the session's statements are then dropped and the statement run once more.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.db import NotSupportedError, connection

PREPARE_THRESHOLD = 5  # psycopg's default


def threshold(settings_dict: dict[str, Any]) -> int | None:
    """DATABASES' OPTIONS["prepare_threshold"] when given (None: never prepare), else ours."""
    return settings_dict.get("OPTIONS", {}).get("prepare_threshold", PREPARE_THRESHOLD)


def is_stale_plan(error: BaseException) -> bool:
    """PostgreSQL refusing a prepared statement whose result columns changed type since it
    was prepared (a migration ran on another connection meanwhile)."""
    cause = error.__cause__ if error.__cause__ is not None else error
    return getattr(
        cause, "sqlstate", None
    ) == "0A000" and "cached plan must not change result type" in str(cause)


def fetchone(sql: str, params: list[Any]) -> tuple | None:
    if connection.queries_logged:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    for retry in (True, False):
        try:
            return _fetchone(sql, params)
        except NotSupportedError as error:
            # Inside a transaction the rollback that follows drops the statements (psycopg).
            if not (retry and is_stale_plan(error) and not connection.in_atomic_block):
                raise
            with connection.wrap_database_errors:
                connection.connection.execute("DEALLOCATE ALL")  # psycopg forgets them too
    raise AssertionError("unreachable: the last try returns or raises")


def _fetchone(sql: str, params: list[Any]) -> tuple | None:
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django's own cursors (client-side binding) never prepare, whatever this says.
        raw.prepare_threshold = threshold(connection.settings_dict)
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
