"""``stalwart worker`` and ``stalwart redis``: running workers, and the embedded Redis they default to."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Sequence
from types import TracebackType

from .. import settings
from ..connection import EmbeddedRedis, connect
from ..connection.home import find
from ..errors import ConfigurationError
from ..runtime.announce import job_queues
from ..runtime.pool import WorkerPool
from ..runtime.worker import Worker
from ..telemetry import logs
from .modules import import_job_modules

log = logging.getLogger("stalwart.worker")


def _redis_url_or_embedded(modules: Sequence[str]) -> str | None:
    """None when REDIS_URL is set; otherwise start (or adopt) the project's embedded server (the project of
    the modules imported, wherever the worker is started from) and return its URL, saying which and why."""
    if settings.current().redis_url:
        return None
    server = EmbeddedRedis(find(modules))
    url = server.start()
    log.info(
        "REDIS_URL is not set: %s embedded Redis at %s, data in %s",
        "using the" if server.adopted else "started an",
        url,
        server.home,
    )
    return url


def _queues(asked: list[str] | None, modules: Sequence[str]) -> list[str]:
    """The queues named with --queue; else those the imported jobs use (ConfigurationError if none)."""
    if asked:
        return asked
    used = job_queues()
    if not used:
        raise ConfigurationError(
            f"{', '.join(modules)} defined no jobs (no Job subclass was imported), so there is no queue to "
            "serve; --import the modules that define your jobs, or name queues with --queue"
        )
    return used


def _python_output_as_json() -> None:
    """What Python itself writes to stderr (warnings, an exception no code caught) becomes JSON lines too:
    a worker's log is read by machines, one JSON object a line."""
    logging.captureWarnings(True)

    def uncaught(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        log.critical(
            "the worker stopped on an error no code caught: %s", error, exc_info=(kind, error, trace)
        )

    def uncaught_in_thread(hook: threading.ExceptHookArgs) -> None:
        if hook.exc_value is not None:
            log.error(
                "thread %s ended on an error: %s",
                hook.thread.name if hook.thread is not None else "?",
                hook.exc_value,
                exc_info=(hook.exc_type, hook.exc_value, hook.exc_traceback),
            )

    sys.excepthook = uncaught
    threading.excepthook = uncaught_in_thread


def cmd_worker(args: argparse.Namespace) -> int:
    if args.max_jobs_per_child is not None and args.processes is None:
        args.parser.error(
            "--max-jobs-per-child replaces the processes of a pool: add --processes N (e.g. --processes 2)"
        )
    import_job_modules(args.imports)
    queues = _queues(args.queues, args.imports)
    logs.configure(args.log_level)
    _python_output_as_json()
    connection = connect(_redis_url_or_embedded(args.imports))
    threads = args.threads or 1
    if args.processes is not None:
        WorkerPool(
            queues,
            processes=args.processes,
            connection=connection,
            threads=threads,
            max_jobs_per_child=args.max_jobs_per_child,
            outbox=args.outbox,
        ).work(burst=args.burst)
        return 0
    worker = Worker(
        queues,
        connection=connection,
        mode="inprocess" if args.in_process or args.threads else "fork",
        outbox=args.outbox,
        threads=threads,
    )
    worker.work(burst=args.burst)
    return 0


def cmd_redis(args: argparse.Namespace) -> int:
    server = EmbeddedRedis()  # the project's, found from the current directory
    if args.action == "start":
        url = server.start()
        said = "already running" if server.adopted else "started"
        print(f"stalwart: embedded Redis {said} in {server.home}", file=sys.stderr)
        print(url)
    elif args.action == "stop":
        stopped = server.stop()
        print("stopped" if stopped else f"no embedded Redis was running in {server.home}")
    else:
        running = server.running_url()
        if running is None:
            print(
                f"stalwart: no embedded Redis is running in {server.home}; run `stalwart redis start`",
                file=sys.stderr,
            )
            return 1
        print(running)
    return 0
