"""config.transactions: a transaction PostgreSQL kills as a deadlock runs once more."""

import threading

import pytest
from django.db import DataError, OperationalError, connection, transaction

from config.transactions import atomic_retrying

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_transactions_that_deadlock_both_commit_the_loser_on_its_second_run():
    both_hold_one = threading.Barrier(2)
    runs: list[str] = []
    failures: list[BaseException] = []

    @atomic_retrying
    def lock_both(name: str, first: int, second: int) -> None:
        runs.append(name)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [first])
            if runs.count(name) == 1:  # the first run: wait until the other holds its lock
                both_hold_one.wait(timeout=10)
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [second])

    def run(*args) -> None:
        try:
            lock_both(*args)
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=("a", 15_001, 15_002)),
        threading.Thread(target=run, args=("b", 15_002, 15_001)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sorted(runs) in (["a", "a", "b"], ["a", "b", "b"])  # one of them ran twice


def test_a_transaction_inside_another_is_left_to_the_outer_one():
    runs = []

    @atomic_retrying
    def deadlocked() -> None:
        runs.append(1)
        with connection.cursor() as cursor:
            cursor.execute(
                "DO $$ BEGIN RAISE EXCEPTION 'a test deadlock' USING ERRCODE = '40P01'; END $$"
            )

    with pytest.raises(OperationalError, match="a test deadlock"), transaction.atomic():
        deadlocked()
    assert runs == [1]  # the outer transaction was spoilt: only its owner can run it again


def test_other_database_errors_are_not_retried():
    runs = []

    @atomic_retrying
    def broken() -> None:
        runs.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1/0")

    with pytest.raises(DataError, match="division by zero"):
        broken()
    assert runs == [1]
