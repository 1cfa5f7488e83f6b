"""Old path of jobs/worker/beat_scheduler.py, kept: CELERY_BEAT_SCHEDULER and deployments
name `jobs.scheduler:LockedDatabaseScheduler`."""

from jobs.worker.beat_scheduler import LockedDatabaseScheduler

__all__ = ["LockedDatabaseScheduler"]
