"""`make lint` is ruff and the type checker, and runs from a fresh clone with no environment.

No database or Redis is needed: mypy's Django plugin imports the settings, nothing connects.
"""

import os
import subprocess
from pathlib import Path

from tests.test_deploy_files import requirement_names

ROOT = Path(__file__).resolve().parent.parent
TYPE_CHECKER = {"mypy", "django-stubs", "django-stubs-ext", "celery-types"}


def test_make_lint_type_checks_the_code_with_no_environment_set():
    """Settings refuse to load without DATABASE_URL and REDIS_URL (and, with DEBUG off,
    SECRET_KEY and ALLOWED_HOSTS): `make lint` stands in placeholders for the unset ones."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    result = subprocess.run(
        # -o: the tools are installed already; do not reinstall requirements in a test.
        ["make", "-o", ".venv/.requirements-installed", "lint"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout, result.stdout


def test_the_type_checker_is_a_dev_tool_pinned_beside_ruff():
    dev = requirement_names(ROOT / "requirements-dev.txt")
    runtime = requirement_names(ROOT / "requirements.txt")
    assert dev >= TYPE_CHECKER
    assert not TYPE_CHECKER & runtime  # the production image does not get them


def test_the_formatter_decides_the_layout_with_at_most_ten_reasoned_exceptions():
    """`# fmt: skip` overrules ruff format: at most 10 in the project, each with its reason in
    a comment on the line above."""
    skips = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0].startswith(".") or "node_modules" in relative.parts:
            continue
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if line.rstrip().endswith("# fmt: skip"):
                skips.append(f"{relative}:{number + 1}")
                previous = lines[number - 1].strip() if number else ""
                assert previous.startswith("#"), f"{relative}:{number + 1} gives no reason above"
    assert len(skips) <= 10, skips


def test_lint_selects_the_complexity_and_commented_out_code_rules():
    import tomllib

    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert {"C90", "ERA"} <= set(ruff["select"])
    assert ruff["mccabe"]["max-complexity"] <= 11


def test_the_job_layer_is_type_checked_strictly_not_ignored():
    """jobs/ has mypy --strict's flags, one by one (an override cannot say `strict = true`),
    and no `ignore_errors`."""
    import tomllib

    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    (jobs,) = [o for o in mypy["overrides"] if "jobs.*" in o["module"]]
    strict = {
        "disallow_untyped_defs",
        "disallow_incomplete_defs",
        "disallow_untyped_calls",
        "disallow_untyped_decorators",
        "disallow_any_generics",
        "disallow_subclassing_any",
        "warn_return_any",
        "no_implicit_reexport",
        "strict_equality",
        "check_untyped_defs",
        "extra_checks",
    }
    assert {flag for flag in strict if jobs.get(flag) is True} == strict
    assert not jobs.get("ignore_errors")
