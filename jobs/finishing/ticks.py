"""The end of a periodic job's run, recorded for ``stalwart schedule`` and for the scheduler's grace check.

A run that a tick enqueued (``meta["periodic"]`` and ``meta["scheduled_for"]`` in its payload) and that
ended (succeeded, negative, or dead-lettered; not a retry) is written in the finishing path's pipeline:
its tick leaves the job's pending ticks, the job's late-tick alert is re-armed, and its outcome becomes
the job's last outcome unless a later tick's run has already ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.client import Pipeline

from .. import _keys
from ..model.outcome import Outcome, Status, now_iso

# KEYS: state, pending, the late-tick alert's state. ARGV: tick (ms), outcome, when, job id.
_END = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
local ended = redis.call('HGET', KEYS[1], 'ended_tick')
if (not ended) or tonumber(ARGV[1]) >= tonumber(ended) then
  redis.call('HSET', KEYS[1], 'ended_tick', ARGV[1], 'last_outcome', ARGV[2], 'last_outcome_at', ARGV[3],
             'last_ended_job_id', ARGV[4])
end
return 1
"""
ENDS = (Status.SUCCEEDED, Status.NEGATIVE, Status.DEAD_LETTERED)


@dataclass(frozen=True)
class TickEnd:
    """One periodic run that ended: the job, its tick (ms), how, and the job id."""

    name: str
    tick_ms: int
    outcome: str
    job_id: str

    def write(self, pipeline: Pipeline) -> None:
        """Queue the writes in ``pipeline`` (the finishing path's)."""
        keys = [
            _keys.periodic_state(self.name),
            _keys.periodic_pending(self.name),
            _keys.check_state("periodic", self.name),
        ]
        pipeline.eval(_END, len(keys), *keys, self.tick_ms, self.outcome, now_iso(), self.job_id)


def tick_end(meta: Mapping[str, Any], outcome: Outcome, job_id: str) -> TickEnd | None:
    """The end to record, if this job came from a tick and this outcome ends its run; else None."""
    name, scheduled_for = meta.get("periodic"), meta.get("scheduled_for")
    if outcome.status not in ENDS or not isinstance(name, str) or not isinstance(scheduled_for, str):
        return None
    try:
        moment = datetime.fromisoformat(scheduled_for)
    except ValueError:
        return None
    return TickEnd(name, round(moment.timestamp() * 1000), outcome.status.value, job_id)
