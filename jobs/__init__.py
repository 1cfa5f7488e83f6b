"""The job layer: Solid Queue's guarantees on Celery's engine (README, "The job layer").

The public names are importable from here: `from jobs import ApplicationJob, register,
ConcurrencyLimit, Job, State`. They are loaded on first use (PEP 562): Django imports this
package while it loads apps, before models may be imported.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "ApplicationJob": "jobs.base",
    "register": "jobs.base",
    "enqueue_all": "jobs.base",
    "ConcurrencyLimit": "jobs.ledger.concurrency",
    "Job": "jobs.models",
    "State": "jobs.models",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'jobs' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
