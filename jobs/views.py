"""Old path of jobs/ops/views.py, kept: config/urls.py routes /healthz, /readyz and /metrics
here."""

from jobs.ops.views import healthz, metrics, readyz

__all__ = ["healthz", "metrics", "readyz"]
