"""What runs inside Celery's processes (worker, pool processes, beat).

execution       a job message: claim, run, record the outcome
workerdb        each process's own connection for its ledger statements
processes       the process registry and heartbeats (jobs.Process)
consumer        the worker's consumer: back on a lost Redis within a second
kombu_redis     kombu's Redis transport with its fix, and its `redis://` registration
beat_scheduler  beat's scheduler: django-celery-beat's, one leader at a time
inspect         our `celery inspect` commands, answered from the ledger (ledger_scheduled)
control         our remote control commands (quiet)
logs            where a worker's logs go and at what level; SIGHUP reopens its log file
"""
