"""Old path of jobs/beat_migrations.py, kept: data migrations import it, and a migration
never changes."""

from jobs.beat_migrations import add_daily_entry, remove_entry

__all__ = ["add_daily_entry", "remove_entry"]
