"""Transactions that PostgreSQL may abort because of another one: a deadlock (40P01) or a
serialization failure (40001). Either aborts the whole transaction and leaves nothing
written, so running it again is safe; a second abort in a row is raised, and the error page
asks the member to try again (config.views) — it is not an outage.

Write paths take their row locks in one order (forum.services' docstring) so that deadlocks
should not happen at all; the retry covers what that order cannot, such as a lock taken by
an operator's statement in psql.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection, transaction

logger = logging.getLogger("config.transactions")

LOCK_CONFLICTS = {"40P01": "deadlock", "40001": "serialization failure"}

P = ParamSpec("P")
R = TypeVar("R")


def atomic_retrying(func: Callable[P, R]) -> Callable[P, R]:
    """`transaction.atomic`, run once more when PostgreSQL aborts it for a lock conflict.

    Only an outermost transaction is retried: inside a caller's transaction the abort has
    already spoiled the caller's work, so the error goes to the caller (whose own
    `atomic_retrying`, if any, runs it all again)."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if connection.in_atomic_block:
            with transaction.atomic():
                return func(*args, **kwargs)
        try:
            with transaction.atomic():
                return func(*args, **kwargs)
        except OperationalError as error:
            conflict = lock_conflict(error)
            if conflict is None:
                raise
            logger.warning("%s: %s in %s; running it once more", conflict, error, func.__name__)
        with transaction.atomic():
            return func(*args, **kwargs)

    return run


def lock_conflict(error: BaseException | None) -> str | None:
    """ "deadlock" or "serialization failure" when `error` (or what it wraps) is one."""
    while error is not None:
        conflict = LOCK_CONFLICTS.get(getattr(error, "sqlstate", None) or "")
        if conflict:
            return conflict
        error = error.__cause__
    return None
