"""``stalwart worker`` and ``stalwart redis``: running workers, and the embedded Redis they default to."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from types import TracebackType

from .. import settings
from ..connection import EmbeddedRedis, connect
from ..runtime.worker import Worker
from ..telemetry import logs
from .modules import import_job_modules


def _redis_url_or_embedded() -> str | None:
    """None when REDIS_URL is set; otherwise start (or adopt) the embedded server and return its URL."""
    if settings.current().redis_url:
        return None
    server = EmbeddedRedis()
    url = server.start()
    print(
        f"stalwart: REDIS_URL is not set; using embedded Redis at {url} (data in {server.directory})",
        file=sys.stderr,
    )
    return url


log = logging.getLogger("stalwart.worker")


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
    import_job_modules(args.imports)
    logs.configure(args.log_level)
    _python_output_as_json()
    worker = Worker(
        args.queues or ["default"],
        connection=connect(_redis_url_or_embedded()),
        mode="inprocess" if args.in_process else "fork",
    )
    worker.work(burst=args.burst)
    return 0


def cmd_redis(args: argparse.Namespace) -> int:
    server = EmbeddedRedis()
    if args.action == "start":
        print(server.start())
    elif args.action == "stop":
        stopped = server.stop()
        print("stopped" if stopped else f"no embedded Redis was running in {server.directory}")
    else:
        url = server.running_url()
        if url is None:
            print(
                f"stalwart: no embedded Redis is running in {server.directory}; run `stalwart redis start`",
                file=sys.stderr,
            )
            return 1
        print(url)
    return 0
