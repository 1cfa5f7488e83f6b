"""A cursor on Django's own connection whose statements PostgreSQL parses and plans once per
connection: for the few statements every email job runs (notifications.emails).

Django's cursors bind parameters on the client and never prepare, and it opens its
connection with psycopg's preparation turned off (prepare_threshold=None). This cursor binds
on the server, so psycopg prepares a statement on its PREPARE_THRESHOLD-th run on the
connection. It is Django's connection all the same: the same transaction and Django's error
wrapping; where queries are logged (DEBUG) it is Django's own cursor. Statements must be
single and use no client-side formatting (no SET LOCAL prefix, no `%%` in literals).
"""

from __future__ import annotations

import psycopg
from django.db import connection
from django.db.backends.utils import CursorWrapper

PREPARE_THRESHOLD = 5  # psycopg's default


def prepared_cursor() -> CursorWrapper:
    if connection.queries_logged:
        # DEBUG, or a test counting queries: Django's own cursor, whose log shows the SQL
        # (Django cannot render a server-bound statement for it). The same SQL either way.
        return connection.cursor()
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # Django's own cursors (client-side binding) never prepare, whatever this says.
        raw.prepare_threshold = PREPARE_THRESHOLD
    with connection.wrap_database_errors:
        cursor = psycopg.Cursor(raw)  # binds on the server, so psycopg may prepare
    connection.validate_thread_sharing()
    return connection.make_cursor(cursor)  # type: ignore[arg-type]  # stubs: any DB-API cursor
