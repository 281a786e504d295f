"""RQ's jobs: plain functions, run by ``rq worker``."""

from __future__ import annotations

import time

from tests.benchmarks import marks


def noop(n: int) -> int:
    marks.ended()
    return n


def sleeps(n: int) -> int:
    marks.started()
    time.sleep(0.1)
    marks.ended()
    return n
