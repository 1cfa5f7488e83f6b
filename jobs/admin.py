"""Where Django's admin looks for this app's ModelAdmins; they are in jobs/ops/admin.py."""

from jobs.ops.admin import JobAdmin, ProcessAdmin, QueuePauseAdmin

__all__ = ["JobAdmin", "ProcessAdmin", "QueuePauseAdmin"]
