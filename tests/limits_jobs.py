"""Jobs with fleet-wide limits, for real workers (``--import tests.limits_jobs``).

Each records its own run with Redis's clock (the clock the limits use), so a test can
compare runs from several processes without trusting their hosts' clocks to agree.
"""

from __future__ import annotations

import json
import time

from jobs import Job, _keys, connect

RUNS = "tests:limits:runs"
# Long enough for runs on three workers to overlap if nothing stopped them.
WORK_S = 0.3


def redis_now() -> float:
    seconds, micros = connect().time()
    return float(seconds) + micros / 1_000_000


class TwoAtOnce(Job):
    """Runs ``WORK_S`` and records ``[number, start, end]``; at most two run at once across the fleet."""

    name = "tests.limits.TwoAtOnce"
    queue = "limits"
    max_concurrency = 2

    def perform(self, number: int) -> int:
        start = redis_now()
        time.sleep(WORK_S)  # the work: holding a slot for a while
        connect().rpush(RUNS, json.dumps([number, start, redis_now()]))
        return number


class ThreePerSecond(Job):
    """Records ``[number, start, admitted]``: its own start, and when its limit admitted it (from the
    limit's log of starts, read at once: entries stay there a whole window)."""

    name = "tests.limits.ThreePerSecond"
    queue = "limits"
    rate_limit = (3, 1.0)

    def perform(self, number: int) -> int:
        start = redis_now()
        log = _keys.limit_starts(self.name)
        (admitted,) = [score for _, score in connect().zscan_iter(log, match=f"{self.job_id}:*")]
        connect().rpush(RUNS, json.dumps([number, start, admitted]))
        return number


class HoldsTheGatewaySlot(Job):
    """Holds the one ``gateway`` slot until the key ``release`` is set (at most a minute)."""

    name = "tests.limits.HoldsTheGatewaySlot"
    queue = "limits-hold"
    max_concurrency = 1
    limit_key = "tests.gateway"

    def perform(self, release: str) -> str:
        connect().rpush(RUNS, json.dumps(["holder", redis_now()]))
        deadline = time.monotonic() + 60
        while not connect().exists(release) and time.monotonic() < deadline:
            time.sleep(0.05)
        return "released"


class NeedsTheGatewaySlot(Job):
    """Records when it started; shares the one ``gateway`` slot."""

    name = "tests.limits.NeedsTheGatewaySlot"
    queue = "limits-next"
    max_concurrency = 1
    limit_key = "tests.gateway"

    def perform(self) -> str:
        connect().rpush(RUNS, json.dumps(["next", redis_now()]))
        return "ran"
