"""The job layer's structure: one writer of job state, and every documented path works."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]
# The one module allowed to change jobs_job.
LEDGER_WRITER = "jobs/ledger/writes.py"
# Not product code: the test suite, and benchmarks that seed and clear their own rows.
NOT_SCANNED = ("tests", "bench", ".venv", "node_modules")

SQL_WRITE = re.compile(
    r"\b(UPDATE|INSERT\s+INTO|DELETE\s+FROM|TRUNCATE(\s+TABLE)?)\s+jobs_job\b", re.IGNORECASE
)
ORM_WRITES = {
    "update",
    "delete",
    "save",
    "create",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
    "raw",
}
# JobQuerySet's own filters: a chain through one of them is a query on Job.
JOB_QUERYSET_METHODS = {
    "scheduled",
    "ready",
    "claimed",
    "blocked",
    "finished",
    "failed",
    "discarded",
}

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


# Where other people and programs read module paths of the job layer: docs, settings, deploy
# files, and the data migrations of other apps (which never change).
DOCUMENTS = [
    "README.md",
    "docs/*.md",
    "deploy/**/*",
    "Procfile.dev",
    "docker-compose.yml",
    "Dockerfile",
    "Makefile",
    "config/*.py",
    "*/migrations/*.py",
]
DOTTED = re.compile(r"(?<![\w/.-])jobs(?:\.[A-Za-z_]\w*)+(?::[A-Za-z_]\w*)?")
FROM_IMPORT = re.compile(r"from (jobs[\w.]*) import ([\w, ]+)")
FILE_PATH = re.compile(r"(?<![\w/.])jobs/[\w/]+\.py\b")
PERMISSION = re.compile(r"^jobs\.(view|add|change|delete|operate)_\w+$")


def documented() -> tuple[set[str], set[str]]:
    """Dotted paths (`jobs.x.y`, `jobs.x:Name`, `from jobs.x import a`) and file paths."""
    dotted, files = set(), set()
    for pattern in DOCUMENTS:
        for path in ROOT.glob(pattern):
            if not path.is_file() or ".venv" in path.parts:
                continue
            text = path.read_text(errors="replace")
            dotted |= {
                m
                for m in DOTTED.findall(text)
                if not PERMISSION.match(m) and not m.endswith((".py", ".json"))
            }
            for module, names in FROM_IMPORT.findall(text):
                for name in names.split(","):
                    if name.split(" as ")[0].strip():
                        dotted.add(f"{module}:{name.split(' as ')[0].strip()}")
            files |= set(FILE_PATH.findall(text))
    return dotted, files


def resolve(path: str) -> object:
    """Import a documented path: the longest importable module, then its attributes; a
    `jobs.Model` (an app label and model name, as in `jobs.Process`) is looked up as one."""
    parts = path.replace(":", ".").split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        rest = parts[cut:]
        if cut == 1 and rest and rest[0][:1].isupper() and not hasattr(target, rest[0]):
            target, rest = apps.get_model("jobs", rest[0]), rest[1:]
        for name in rest:
            target = getattr(target, name)
        return target
    raise ModuleNotFoundError(path)


DOTTED_PATHS, FILE_PATHS = documented()


def test_the_documents_name_the_paths_people_use():
    assert {"jobs.base:ApplicationJob", "jobs.scheduler:LockedDatabaseScheduler"} <= DOTTED_PATHS
    assert {"jobs.consumer:Consumer", "jobs.beat:add_daily_entry"} <= DOTTED_PATHS


@pytest.mark.parametrize("path", sorted(DOTTED_PATHS))
def test_each_documented_module_path_imports(path):
    assert resolve(path) is not None


@pytest.mark.parametrize("path", sorted(FILE_PATHS))
def test_each_documented_file_exists(path):
    assert (ROOT / path).is_file()


def test_the_public_names_import_from_jobs():
    from jobs import ApplicationJob, ConcurrencyLimit, Job, State, register
    from jobs.base import ApplicationJob as Base
    from jobs.models import Job as Model

    assert ApplicationJob is Base and Job is Model and callable(register)
    assert State.READY == "ready" and ConcurrencyLimit(key=str).to == 1


# The one import inside jobs/ that goes back up the graph, made in a function on purpose:
# the queryset's retry/discard (the seed's console API) hand their statements to the ledger.
LAZY_EDGES = {("jobs.models", "jobs.ledger.writes")}


def jobs_modules() -> dict[str, Path]:
    modules = {}
    for path in (ROOT / "jobs").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "migrations" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The jobs modules a module imports, anywhere in it (in functions too); not those under
    `if TYPE_CHECKING:`, which only the type checker reads."""
    tree = ast.parse(path.read_text())
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for statement in node.body
        for inner in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return {name for name in found if name in modules}


def test_no_import_loop_inside_jobs():
    modules = jobs_modules()
    graph = {
        name: imports_of(path, modules)
        - {target for source, target in LAZY_EDGES if source == name}
        for name, path in modules.items()
    }
    loops = []

    def visit(name: str, trail: list[str]) -> None:
        for target in sorted(graph[name]):
            if target in trail:
                loops.append(" → ".join([*trail[trail.index(target) :], target]))
            elif target not in done:
                visit(target, [*trail, target])
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    assert loops == []


def test_models_import_no_ledger_at_module_level():
    tree = ast.parse((ROOT / "jobs/models.py").read_text())
    top_level = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert not [n for n in top_level if "ledger" in ast.unparse(n)]
