"""``stalwart console``: the web console (``jobs.console``), when the ``console`` extra is installed."""

from __future__ import annotations

import argparse

from .. import settings
from ..connection import connect
from ..errors import ConfigurationError
from .modules import import_job_modules

try:
    from ..console import bind, check_bind, serve, url_of
    from ..console.web import clean_prefix

    MISSING: str | None = None
except ModuleNotFoundError as err:  # the optional extra is not installed: say so when the command runs
    MISSING = err.name


def cmd_console(args: argparse.Namespace) -> int:
    if MISSING is not None:
        raise ConfigurationError(
            f"stalwart console needs the console extra ({MISSING} is not installed): "
            "pip install 'stalwart[console]'"
        )
    current = settings.current()
    try:
        check_bind(args.host, current)
        root_path = clean_prefix(args.root_path)
    except ValueError as err:
        args.parser.error(str(err))
    import_job_modules(args.imports)
    connection = connect()
    sock = bind(args.host, args.port)
    print(f"serving {url_of(sock, root_path)}", flush=True)  # with --port 0, how a script learns the port
    try:
        serve(sock, connection, current, root_path)
    finally:
        sock.close()
    return 0
