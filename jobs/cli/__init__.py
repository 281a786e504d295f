"""The ``stalwart`` command: run workers, manage the embedded Redis, look after the dead-letter queue.

``parser`` declares every command; each command's code lives in its own module
(``worker``, ``dlq``, ``sweep``, ``stats``, ``checks``, ``demo``), imported only
when that command runs.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import cast

from ..errors import JobsError
from .parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stalwart`` console script."""
    args, extra = build_parser().parse_known_args(argv)
    if extra:
        # Reported by the sub-command's parser, so the hint names that command's --help.
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    module, _, function = str(args.run).partition(":")
    run = cast(Callable[..., int], getattr(importlib.import_module(f"{__name__}.{module}"), function))
    try:
        return run(args)
    except (JobsError, ValueError) as err:
        print(f"stalwart: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
