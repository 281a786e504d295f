"""``stalwart metrics``: serve ``GET /metrics`` (Prometheus text format) for the whole fleet, from Redis."""

from __future__ import annotations

import argparse

from ..connection import connect
from ..metrics import check_bind, make_server


def cmd_metrics(args: argparse.Namespace) -> int:
    try:
        check_bind(args.host, args.allow_remote)
    except ValueError as err:
        args.parser.error(str(err))
    server = make_server(connect(), args.host, args.port)
    print(f"serving {server.url}", flush=True)  # with --port 0, this is how a script learns the port
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
