"""``Limits``: how much a job's payload may hold, the same when it is enqueued and when it is run.

The producer refuses what the limits forbid (``PayloadError``); the worker turns
a payload written past the producer (by anyone with write access to Redis) into
``poison`` before anything inflates, decodes or walks it past the same limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_PAYLOAD_BYTES = 512 * 1024
DEFAULT_MAX_DEPTH = 32


@dataclass(frozen=True)
class Limits:
    """Bounds on what a payload may be; one object, so the producer and the worker agree.

    ``max_payload_bytes`` bounds RQ's serialized data for the job (measured the
    same way on both sides, and the most the worker inflates); ``max_depth``
    bounds how deeply lists and dicts nest inside one argument.
    """

    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH


DEFAULT_LIMITS = Limits()


def nesting_depth(value: Any, cap: int) -> int:
    """How deeply lists and dicts nest in ``value`` (a scalar is 0, ``[1]`` is 1), up to ``cap + 1`` at most.

    Iterative, so a value nested far deeper than Python's recursion limit is measured, not crashed on;
    it returns ``cap + 1`` as soon as it finds that much nesting.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        if depth > cap:
            return cap + 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest
