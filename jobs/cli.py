"""The ``stalwart`` command: run workers, manage the embedded Redis, look at the dead-letter queue."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from . import cli_checks, cli_dlq, cli_stats, logs
from .connection import connect
from .embedded import EmbeddedRedis
from .errors import JobsError
from .worker import Worker, add_import_option, import_job_modules


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line that says what to run for help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def _redis_url_or_embedded() -> str | None:
    """None when REDIS_URL is set; otherwise start (or adopt) the embedded server and return its URL."""
    import os

    if os.environ.get("REDIS_URL"):
        return None
    server = EmbeddedRedis()
    url = server.start()
    print(
        f"stalwart: REDIS_URL is not set; using embedded Redis at {url} (data in {server.directory})",
        file=sys.stderr,
    )
    return url


def _cmd_worker(args: argparse.Namespace) -> int:
    import_job_modules(args.imports)
    logs.configure(args.log_level)
    worker = Worker(
        args.queues or ["default"],
        connection=connect(_redis_url_or_embedded()),
        mode="inprocess" if args.in_process else "fork",
    )
    worker.work(burst=args.burst)
    return 0


def _cmd_redis(args: argparse.Namespace) -> int:
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


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(charges=args.charges, workers=args.workers)


def _demo_description() -> str:
    from . import demo

    return str(demo.__doc__)


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The command line, with one sub-command per concern."""
    parser = _Parser(prog="stalwart", description="Resilient background jobs on Redis and RQ.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    worker = commands.add_parser(
        "worker",
        help="run a worker",
        description=(
            "Run jobs from the given queues. REDIS_URL selects Redis; without it, an embedded Redis "
            "is started (or reused) under STALWART_HOME (./.stalwart)."
        ),
    )
    add_import_option(worker, "defines job classes")
    worker.add_argument(
        "--queue",
        dest="queues",
        action="append",
        metavar="NAME",
        help="queue to take jobs from, in priority order (repeatable; default: default)",
    )
    worker.add_argument(
        "--burst", action="store_true", help="exit once nothing is queued and nothing is scheduled"
    )
    worker.add_argument(
        "--in-process",
        action="store_true",
        help="run jobs in the worker process (faster; no isolation from crashing jobs)",
    )
    worker.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    worker.set_defaults(parser=worker, run=_cmd_worker)

    server = commands.add_parser("redis", help="manage the embedded Redis server")
    server.add_argument("action", choices=["start", "stop", "url"])
    server.set_defaults(parser=server, run=_cmd_redis)

    dlq = commands.add_parser("dlq", help="the dead-letter queue: list, show, replay, discard, export")
    cli_dlq.add_commands(dlq, _Parser)

    cli_stats.add_command(commands)
    cli_checks.add_commands(commands)

    demo = commands.add_parser(
        "demo",
        help="bill 500 customers against a flaky payment gateway, on an embedded Redis, and prove the result",
        description=_demo_description(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument(
        "--charges", type=_bounded_int(10, 10_000), default=500, help="charges to run (default 500)"
    )
    demo.add_argument("--workers", type=_bounded_int(1, 8), default=2, help="worker processes (default 2)")
    demo.set_defaults(parser=demo, run=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stalwart`` console script."""
    args, extra = build_parser().parse_known_args(argv)
    if extra:
        # Reported by the sub-command's parser, so the hint names that command's --help.
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        code: int = args.run(args)
    except (JobsError, ValueError) as err:
        print(f"stalwart: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
