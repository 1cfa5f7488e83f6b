"""The ledger: job state in PostgreSQL and every change made to it.

    writes       every statement that changes jobs_job (and only here)
    concurrency  ConcurrencyLimit, and admitting/releasing jobs by key
    recovery     what the dispatcher recovers: jobs of dead processes, lost messages
    pauses       paused queues (jobs.QueuePause rows)

The models themselves are in jobs/models.py, where Django looks for them.
"""
