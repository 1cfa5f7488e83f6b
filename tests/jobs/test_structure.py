"""The job layer's structure, checked statically: one writer of job state."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The one module allowed to change jobs_job.
LEDGER_WRITER = "jobs/ledger.py"
# Not product code: the test suite, and benchmarks that seed and clear their own rows.
NOT_SCANNED = ("tests", "bench", ".venv", "node_modules")

SQL_WRITE = re.compile(
    r"\b(UPDATE|INSERT\s+INTO|DELETE\s+FROM|TRUNCATE(\s+TABLE)?)\s+jobs_job\b", re.IGNORECASE
)
ORM_WRITES = {
    "update", "delete", "save", "create", "bulk_create", "bulk_update", "get_or_create",
    "update_or_create", "raw",
}  # fmt: skip
# JobQuerySet's own filters: a chain through one of them is a query on Job.
JOB_QUERYSET_METHODS = {
    "scheduled", "ready", "claimed", "blocked", "finished", "failed", "discarded",
}  # fmt: skip

# Names that hold Job or its queries (`Job.objects…`, `jobs.filter(…)`, `job.save()`).
JOB_NAMES = {"Job", "JobQuerySet", "job", "jobs"}


def project_modules() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.py")
        if not path.relative_to(ROOT).parts[0].startswith(NOT_SCANNED)
    )


def _chain_mentions_job(node: ast.AST) -> bool:
    """Whether a call's receiver is a Job query or row: `Job.objects…`, `Job(…)`, a name
    `job`/`jobs`, a JobQuerySet filter (`….failed()`); `self` in Job or JobQuerySet is
    handled by the caller."""
    while True:
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in JOB_QUERYSET_METHODS:
                return True
            node = func
        elif isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        else:
            return isinstance(node, ast.Name) and node.id in JOB_NAMES


def job_writes(path: Path) -> list[str]:
    """Every statement in a module that changes jobs_job: SQL text, or an ORM write on Job."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    in_job_classes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in ("Job", "JobQuerySet"):
            in_job_classes |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if SQL_WRITE.search(node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} SQL")
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            if SQL_WRITE.search(text):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} SQL")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ORM_WRITES
        ):
            receiver = node.func.value
            on_self = (
                id(node) in in_job_classes
                and isinstance(receiver, ast.Name)
                and receiver.id == "self"
            )
            if on_self or _chain_mentions_job(receiver):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.func.attr}()")
    return found


def test_the_scan_sees_the_ledgers_own_writes():
    """The check below can see writes: the ledger's SQL and ORM statements are found."""
    writes = job_writes(ROOT / LEDGER_WRITER)
    assert any(w.endswith("SQL") for w in writes)
    assert any(w.endswith((".update()", ".raw()")) for w in writes)


def test_only_the_ledger_writes_job_state():
    writes = [
        write
        for path in project_modules()
        if path.relative_to(ROOT).as_posix() != LEDGER_WRITER
        for write in job_writes(path)
    ]
    assert writes == [], "jobs_job is changed outside the ledger"
