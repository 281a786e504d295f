"""The ``stalwart`` command: run workers, manage the embedded Redis, look after the dead-letter queue.

``parser`` declares every command (with ``parser_flow``: enqueue, schedule, outbox; and
``parser_web``: metrics, console; ``declare`` holds what they share); each command's code
lives in its own module (``worker``, ``dlq``, ``sweep``, ``stats``, ``metrics``, ``checks``,
``demo``...), imported only when that command runs.

A mistake or a failure of the environment (Redis, a file, the disk) is one line
on standard error that says what to do, and a non-zero exit: never a traceback.
A traceback is left only for what is a bug.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import cast

import redis

from .._file_errors import explain
from ..connection.outage import describe, is_outage
from ..errors import JobsError
from .parser import build_parser
from .render import visible

__all__ = ["build_parser", "main"]

# What a shell reports for a command killed by SIGPIPE (128 + 13), as `yes | head` does.
EXIT_READER_LEFT = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stalwart`` console script."""
    args, extra = build_parser().parse_known_args(argv)
    if extra:
        # Reported by the sub-command's parser, so the hint names that command's --help.
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    module, _, function = str(args.run).partition(":")
    run = cast(Callable[..., int], getattr(importlib.import_module(f"{__name__}.{module}"), function))
    try:
        code = run(args)
        sys.stdout.flush()  # a reader that left is noticed here, not in the interpreter's exit
    except BrokenPipeError:
        return _reader_left()
    except (JobsError, ValueError, redis.RedisError, OSError) as err:
        print(f"stalwart: {visible(_one_line(err))}", file=sys.stderr)  # it may quote data from Redis
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def _one_line(err: Exception) -> str:
    """What went wrong and what to do, for a mistake or a failure of the environment."""
    if isinstance(err, redis.RedisError):
        if is_outage(err):
            return f"{describe(err)}; run the command again once Redis is back"
        return f"Redis refused a command ({type(err).__name__}: {err}); check REDIS_URL and its ACL"
    if isinstance(err, OSError):
        return explain(err)
    return str(err)


def _reader_left() -> int:
    """The reader of standard output went away (``stalwart dlq list --json | head``): stop quietly.

    Standard output is pointed at /dev/null, so that the interpreter's own flush at exit does not
    fail and print the same error again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_READER_LEFT
