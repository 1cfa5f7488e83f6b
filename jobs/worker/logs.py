"""Where a worker's and beat's logs go, and at what level.

Django's LOGGING (config/settings.py) configures the root logger before Celery sets up its
logging, so Celery sees it configured and adds no handler of its own (CELERY_WORKER_HIJACK_ROOT_
LOGGER is off): without this module `--logfile` stays empty and a detached worker, whose
stdout and stderr are /dev/null, logs nowhere. After Celery's setup (its after_setup_logger
signal, connected in jobs.worker.hooks):

- level: LOG_LEVEL, unless --loglevel was given on the command line (Celery's own default,
  WARNING, would otherwise win over the setting);
- file: with --logfile, the root logger writes there instead of to stderr, in LOG_FORMAT,
  through a WatchedFileHandler, which opens the file again when logrotate moved it (each
  process notices at its next line). Pool processes are forked after this, and inherit it;
- SIGHUP to the worker's main process opens its log files again at once (Celery's own
  SIGHUP would restart a detached worker); the line it logs is the first of the new file.
"""

from __future__ import annotations

import logging
import signal
import threading
from logging.handlers import WatchedFileHandler
from typing import Any

import click
from celery import platforms
from click.core import ParameterSource
from django.conf import settings

logger = logging.getLogger("jobs.logs")


def after_setup_logger(
    logger: logging.Logger, loglevel: int | str | None, logfile: str | None, **_kwargs: Any
) -> None:
    """Celery's after_setup_logger: the root logger gets LOG_LEVEL (or the explicit flag's
    level) and, with a log file, writes to it."""
    logger.setLevel(level(loglevel))
    if logfile:
        _write_to(logger, logfile)


def after_setup_task_logger(
    logger: logging.Logger, loglevel: int | str | None, **_kwargs: Any
) -> None:
    """Celery's task logger ("celery.task") at the same level as the root logger."""
    logger.setLevel(level(loglevel))


def level(loglevel: int | str | None) -> int | str:
    """The command line's --loglevel when given there (or in its CELERY_ environment
    variable), otherwise LOG_LEVEL."""
    context = click.get_current_context(silent=True)
    if context is not None and loglevel is not None and "loglevel" in context.params:
        source = context.get_parameter_source("loglevel")
        if source not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
            return loglevel
    return str(settings.LOG_LEVEL)


def reopen_on_sighup() -> None:
    """SIGHUP opens this process's log files again instead of restarting it (call from the
    main thread, after Celery installed its handlers)."""
    if _file_handlers():
        platforms.signals["SIGHUP"] = _on_sighup


def reopen() -> list[str]:
    """Close and open again every log file of this process; returns their paths."""
    paths = []
    for handler in _file_handlers():
        handler.acquire()
        try:
            if handler.stream is not None:
                handler.stream.close()
            handler.stream = handler._open()
            if isinstance(handler, WatchedFileHandler):
                handler._statstream()
        finally:
            handler.release()
        paths.append(handler.baseFilename)
    return paths


def _on_sighup(signum: int, _frame: object) -> None:
    # A thread of its own: the main thread may be inside a handler's emit, holding its lock.
    def reopen_and_say() -> None:
        for path in sorted(set(reopen())):
            logger.info("logs.reopened %s on %s", path, signal.Signals(signum).name)

    threading.Thread(target=reopen_and_say, name="jobs-log-reopen", daemon=True).start()


def _write_to(root: logging.Logger, logfile: str) -> None:
    """Replace the root logger's stream handlers (Django's console) by one on the file,
    with their formatter."""
    streams = [
        handler
        for handler in root.handlers
        if type(handler) is logging.StreamHandler  # not a FileHandler, a StreamHandler subclass
    ]
    file_handler = WatchedFileHandler(logfile, encoding="utf-8")
    if streams:
        file_handler.setFormatter(streams[0].formatter)
    for handler in streams:
        root.removeHandler(handler)
    root.addHandler(file_handler)


def _file_handlers() -> list[logging.FileHandler]:
    """The file handlers of every logger of this process: ours on the root logger, and
    Celery's own on its task and multiprocessing loggers."""
    loggers = [logging.getLogger()] + [
        item
        for item in logging.Logger.manager.loggerDict.values()
        if isinstance(item, logging.Logger)
    ]
    handlers: dict[int, logging.FileHandler] = {}
    for each in loggers:
        for handler in each.handlers:
            if isinstance(handler, logging.FileHandler):
                handlers[id(handler)] = handler
    return list(handlers.values())
