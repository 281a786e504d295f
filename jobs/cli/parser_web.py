"""The commands that serve HTTP: ``metrics`` (Prometheus) and ``console`` (the web console)."""

from __future__ import annotations

import argparse
from typing import Any

from .declare import add_import_option, command
from .values import bounded_int


def metrics(commands: Any) -> None:
    sub = command(
        commands,
        "metrics",
        "metrics:cmd_metrics",
        "serve Prometheus metrics for the whole fleet on /metrics",
        description=(
            "Serve GET /metrics in Prometheus text format: counts per job and outcome (all time), job "
            "durations, queue depths, dead-letter entries and circuit states, read from Redis at each "
            "scrape. Redis is found as the worker finds it (REDIS_URL, else the project's embedded Redis)."
        ),
    )
    _listen_options(sub, 9808)
    sub.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not a loopback address (anyone who reaches it reads job names)",
    )


def console(commands: Any) -> None:
    sub = command(
        commands,
        "console",
        "console:cmd_console",
        "serve the web console: dead letters, queues, rhythm, a JSON API and /metrics",
        description=(
            "Serve the web console (installed with stalwart[console]): the dead-letter queue with filters, "
            "root causes, replay (with edited arguments), discard and bulk actions; the queues; the "
            "per-minute rhythm; a JSON API; and /metrics. Tokens come from STALWART_CONSOLE_TOKENS "
            "(name:role:token, comma-separated); without them it serves this machine only."
        ),
    )
    _listen_options(sub, 9809)
    sub.add_argument(
        "--root-path",
        default="",
        metavar="PREFIX",
        help="the path it is served under behind a reverse proxy, e.g. /stalwart (else X-Forwarded-Prefix)",
    )
    add_import_option(sub, "defines the job classes (to check replays' arguments)", required=False)


def _listen_options(parser: argparse.ArgumentParser, port: int) -> None:
    """``--host`` (127.0.0.1 by default) and ``--port`` (``port``; 0 picks a free one)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=bounded_int(0, 65535), default=port, help=f"port (default {port}; 0: any free one)"
    )
