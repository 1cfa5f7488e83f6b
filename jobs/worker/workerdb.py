"""A worker process's own connection for its ledger writes (claim and outcome).

Two statements per job sit on the hot path of every worker, so they get what Django's
general-purpose cursor cannot give them: server-side prepared statements (parsed and planned
once per process) and `synchronous_commit = off`. The latter is safe here: the ledger is
at-least-once by design, and a claim or an outcome lost in a PostgreSQL *crash* (not a
restart) leaves the job `ready` or `claimed`, which the dispatcher recovers; the job's own
writes keep using Django's connection with full durability.

The connection is opened lazily in the process that uses it (after the prefork fork) and
reopened once when PostgreSQL went away.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from django.db import connection as django_connection
from psycopg.rows import TupleRow

from config import prepared
from jobs.worker.state import this_process

logger = logging.getLogger("jobs")

_T = TypeVar("_T")


def fetchone(sql: str, params: list[Any]) -> TupleRow | None:
    """Run one autocommit statement; returns its first row. Retries once on a lost server."""
    return _run(sql, params, psycopg.Cursor.fetchone)


def fetchall(sql: str, params: list[Any]) -> list[TupleRow]:
    return _run(sql, params, psycopg.Cursor.fetchall)


def generation() -> int:
    """Bumped each time this process (re)connects: a reconnect means the server went away,
    and Django's own connection in this process is then broken too."""
    return this_process.generation


def close() -> None:
    conn = this_process.conn
    this_process.conn = None
    if conn is not None and this_process.conn_pid == os.getpid():
        conn.close()


def _run(sql: str, params: list[Any], fetch: Callable[[psycopg.Cursor[TupleRow]], _T]) -> _T:
    for retry in (True, False):
        try:
            with _connection().cursor() as cursor:
                cursor.execute(sql, params, prepare=True)
                return fetch(cursor)
        except psycopg.errors.FeatureNotSupported as error:
            if not (retry and prepared.is_stale_plan(error)):
                raise
            # A migration changed a column this statement returns: prepare everything again.
            logger.warning("jobs.worker.workerdb dropping its prepared statements: %s", error)
            _connection().execute("DEALLOCATE ALL")  # psycopg forgets them too
        except psycopg.OperationalError as error:
            if not retry:
                raise
            logger.warning(
                "jobs.worker.workerdb reconnecting after %s: %s", type(error).__name__, error
            )
            close()
    raise AssertionError("unreachable: the last try returns or raises")


def connection() -> psycopg.Connection[TupleRow]:
    """This process's connection (opened on first use, reopened after a fork or a loss)."""
    return _connection()


def _connection() -> psycopg.Connection[TupleRow]:
    conn = this_process.conn
    if conn is None or this_process.conn_pid != os.getpid() or conn.closed:
        params = django_connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        # Django passes prepare_threshold=None unless OPTIONS says otherwise, which turns
        # psycopg's preparation off altogether, prepare=True included: until this line the
        # statements here were parsed and planned on every run (config.prepared).
        params["prepare_threshold"] = prepared.threshold(django_connection.settings_dict)
        conn = psycopg.connect(**params, autocommit=True)
        conn.execute("SET synchronous_commit = off")
        this_process.conn, this_process.conn_pid = conn, os.getpid()
        this_process.generation += 1
    return conn
