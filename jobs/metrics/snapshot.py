"""What ``/metrics`` shows, read from Redis in a few pipelined round trips, and nothing rendered yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from .. import _keys, stats
from ..dead_letter.store import STATUSES
from ..rq_adapter.queues import queue_counts

# How many keys each SCAN step looks at when finding circuits (their keys have no index of their own).
SCAN_COUNT = 10_000


@dataclass
class Snapshot:
    """The fleet's counters and gauges at one moment, as plain values (``exposition.render`` is pure)."""

    # scope (a job's name, or ``stats.APP``) -> metric (``succeeded``, ``negative.card_declined``...) -> total
    totals: dict[str, dict[str, float]] = field(default_factory=dict)
    # job -> bucket upper bound as its ``le`` label (``stats.bound_label``), or "+Inf" -> runs in that bucket
    durations: dict[str, dict[str, int]] = field(default_factory=dict)
    # queue -> ``queued`` / ``scheduled`` / ``started`` -> jobs
    queues: dict[str, dict[str, int]] = field(default_factory=dict)
    # dead-letter status -> entries
    dead_letter: dict[str, int] = field(default_factory=dict)
    # circuit name -> ``closed`` / ``open`` / ``half_open``, as stored
    circuits: dict[str, str] = field(default_factory=dict)


def read(connection: redis.Redis) -> Snapshot:
    """Everything ``/metrics`` shows: one round trip for counts and the dead-letter queue, two for queues,
    and for circuits one SCAN step per ``SCAN_COUNT`` keys in the database plus one."""
    with connection.pipeline(transaction=False) as pipeline:
        stats.read_totals(pipeline)
        for status in STATUSES:
            pipeline.zcard(_keys.dead_letter_status(status))
        found = pipeline.execute()
    totals, durations = stats.parse_totals(found[0], found[1])
    return Snapshot(
        totals=totals,
        durations=durations,
        queues=queue_counts(connection),
        dead_letter={status: int(n) for status, n in zip(STATUSES, found[2:], strict=True)},
        circuits=_circuits(connection),
    )


def _circuits(connection: redis.Redis) -> dict[str, str]:
    """Every circuit that has recorded a call (its hash exists), with its stored state."""
    prefix = _keys.circuits()
    keys = sorted(set(connection.scan_iter(match=f"{_glob(prefix)}*", count=SCAN_COUNT, _type="HASH")))
    if not keys:
        return {}
    with connection.pipeline(transaction=False) as pipeline:
        for key in keys:
            pipeline.hget(key, "state")
        states = pipeline.execute()
    return {
        _text(key)[len(prefix) :]: _text(state) if state else "closed"
        for key, state in zip(keys, states, strict=True)
    }


def _glob(text: str) -> str:
    """``text`` with SCAN's pattern characters escaped, so a prefix is matched as itself."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
