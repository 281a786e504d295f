"""Periodic jobs in Redis: workers publish their specs; the fleet's scheduler leader ticks them.

``publish`` runs in every worker at start, with the periodic job classes it imported: each spec goes to
one hash (``_keys.periodic_specs``), so the leader can tick a job its own process never imported, and
``stalwart schedule`` can list it. The first time a job is seen its ``start`` is recorded: its first tick
is the next one after that, not a backlog from the epoch.

``tick`` runs in the leader each round. Each tick is one Lua script that checks the last tick recorded
for the job, writes the tick's job (RQ's fields, as ``raw_job``; its id derived from the job and the
tick), pushes it on its queue, adds the queue to RQ's set of queues, and records the tick: a tick is
enqueued exactly once however many schedulers run it, and one killed mid-tick either enqueued it or
left it whole for the next. Ticks missed while no scheduler ran follow the job's ``catch_up``.

Time is Redis's (``TIME``) unless the caller passes ``now``, so hosts whose clocks disagree agree on
which ticks are due. A tick whose run has not ended by its deadline (``grace_s``; by default the next
tick plus ``timeout_s``) raises one alert, not again until a run of that job ends (the finishing path
records each end: ``finishing/ticks.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import redis

from .. import _keys
from ..model.definition import JobDefinition
from ..model.periodic import PeriodicSpec, is_periodic, spec_of, tick_body, tick_job_id
from ..model.requests import new_request_id
from ..model.schedule import deadline, due, iso
from ..rq_adapter.enqueue import queues_key, raw_job_of
from ..telemetry.alerts import OUTBOX_LIMIT, Alert

log = logging.getLogger("stalwart.periodic")

# What ``publish`` says on the scheduler's wake channel (a due time's write says the time).
PUBLISHED = "periodic"

# KEYS: state, pending, job hash, queue, RQ's queue set. ARGV: tick (ms), enqueue ("1" or "0"), job id,
# deadline (ms), the queue's member in RQ's set, now (ms), then the job hash's fields and values.
# Returns 1 (enqueued), 2 (recorded as skipped), 0 (already recorded: another scheduler did it).
_TICK = """
local last = redis.call('HGET', KEYS[1], 'last_tick') or redis.call('HGET', KEYS[1], 'start')
if not last then
  redis.call('HSET', KEYS[1], 'start', ARGV[6])
  return 0
end
local tick = tonumber(ARGV[1])
if tonumber(last) >= tick then return 0 end
redis.call('HSET', KEYS[1], 'last_tick', ARGV[1])
if ARGV[2] ~= '1' then return 2 end
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('HSET', KEYS[3], unpack(ARGV, 7))
  redis.call('RPUSH', KEYS[4], ARGV[3])
  redis.call('SADD', KEYS[5], ARGV[5])
end
redis.call('HSET', KEYS[1], 'last_enqueued', ARGV[1], 'last_job_id', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
return 1
"""

# KEYS: pending, the alert's state, the alert outbox. ARGV: the alert, the outbox's limit, now (ms), then
# the late ticks (ms). Removes them; alerts unless an alert for this job is still standing. Returns 1 if so.
_GRACE = """
local removed = 0
for i = 4, #ARGV do removed = removed + redis.call('ZREM', KEYS[1], ARGV[i]) end
if removed == 0 then return 0 end
if not redis.call('SET', KEYS[2], ARGV[3], 'NX') then return 0 end
redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[2]), -1)
return 1
"""


def _ms(t: float) -> int:
    return round(t * 1000)


def redis_now(connection: redis.Redis) -> float:
    """Redis's clock, in epoch seconds: the one clock every scheduler of the fleet reads."""
    seconds, micros = connection.time()
    return int(seconds) + int(micros) / 1e6


def publish(
    connection: redis.Redis, classes: Iterable[type[JobDefinition]], now: float | None = None
) -> None:
    """Write the spec of each periodic job in ``classes`` (others are ignored); record a new one's start
    (``now``, by default Redis's clock)."""
    specs = [spec_of(cls) for cls in classes if is_periodic(cls) and not cls.abstract]
    if not specs:
        return
    now_ms = _ms(redis_now(connection) if now is None else now)
    pipeline = connection.pipeline(transaction=True)
    for spec in specs:
        pipeline.hset(_keys.periodic_specs(), spec.name, spec.to_json())
        pipeline.hsetnx(_keys.periodic_state(spec.name), "start", now_ms)
    # The leader ticks again at once: a job new to the fleet may be due before its next round.
    pipeline.publish(_keys.schedule_wake(), PUBLISHED)
    pipeline.execute()
    log.info("published %d periodic job(s): %s", len(specs), ", ".join(s.name for s in specs))


def specs(connection: redis.Redis) -> list[PeriodicSpec]:
    """Every published spec this version can read, by name; one it cannot is logged and left out."""
    found = []
    for name, raw in sorted(connection.hgetall(_keys.periodic_specs()).items()):
        try:
            found.append(PeriodicSpec.from_json(raw))
        except ValueError as err:
            log.warning("periodic job %r has a spec this worker cannot read: %s", name, err)
    return found


@dataclass(frozen=True)
class State:
    """What Redis holds about one periodic job's ticks (times in epoch seconds)."""

    start: float | None = None
    last_tick: float | None = None
    last_enqueued: float | None = None
    last_job_id: str | None = None
    ended_tick: float | None = None
    last_outcome: str | None = None
    last_outcome_at: str | None = None

    @classmethod
    def of(cls, raw: dict[Any, Any]) -> State:
        """The state from its hash (bytes or text)."""
        values = {_text(k): _text(v) for k, v in raw.items()}

        def seconds(name: str) -> float | None:
            value = values.get(name)
            return int(value) / 1000 if value else None

        return cls(
            start=seconds("start"),
            last_tick=seconds("last_tick"),
            last_enqueued=seconds("last_enqueued"),
            last_job_id=values.get("last_job_id"),
            ended_tick=seconds("ended_tick"),
            last_outcome=values.get("last_outcome"),
            last_outcome_at=values.get("last_outcome_at"),
        )

    @property
    def recorded(self) -> float | None:
        """The tick after which the next ones fall: the last recorded, else when the job was first seen."""
        return self.last_tick if self.last_tick is not None else self.start


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def states(connection: redis.Redis, names: Iterable[str]) -> dict[str, State]:
    """Each job's state, in one round trip."""
    names = list(names)
    pipeline = connection.pipeline(transaction=False)
    for name in names:
        pipeline.hgetall(_keys.periodic_state(name))
    return {name: State.of(raw) for name, raw in zip(names, pipeline.execute(), strict=True)}


def tick(connection: redis.Redis, now: float | None = None) -> float | None:
    """Enqueue every due tick exactly once, alert on late ones; the time of the next thing to do, or None.

    ``now`` (epoch seconds) defaults to Redis's clock. The returned time is the earliest of every job's
    next tick and every pending tick's deadline (``now`` itself while catch_up = "all" has more to do).
    """
    now = redis_now(connection) if now is None else now
    published = specs(connection)
    if not published:
        return None
    current = states(connection, [s.name for s in published])
    script = connection.register_script(_TICK)
    wake: list[float] = []
    for spec in published:
        wake.append(_tick_one(connection, script, spec, current[spec.name], now))
    wake.extend(_check_grace(connection, published, now))
    return min(wake) if wake else None


def _tick_one(connection: redis.Redis, script: Any, spec: PeriodicSpec, state: State, now: float) -> float:
    """Run ``spec``'s due ticks; returns when its next tick falls."""
    schedule = spec.schedule
    last = state.recorded
    state_key, pending_key = _keys.periodic_state(spec.name), _keys.periodic_pending(spec.name)
    if last is None:
        # Published before this version recorded starts, or its state was deleted: it starts now.
        connection.hsetnx(state_key, "start", _ms(now))
        return schedule.next_after(now)
    plan = due(schedule, last, now, spec.catch_up)
    for at, enqueue in plan.ticks:
        if not enqueue:
            if script(keys=[state_key, pending_key, "", "", ""], args=[_ms(at), 0, "", 0, "", _ms(now)]) == 2:
                log.info(
                    "periodic job %s: tick %s skipped (catch_up = %s)", spec.name, iso(at), spec.catch_up
                )
            continue
        body = tick_body(spec, at, new_request_id(), datetime.now(timezone.utc))
        raw = raw_job_of(
            spec.name, spec.queue, spec.timeout_s, spec.result_ttl_s, body, job_id=tick_job_id(spec.name, at)
        )
        fields = [part for pair in raw.fields.items() for part in pair]
        # A tick enqueued late (catch-up) has its whole grace from when it was enqueued.
        late_at = deadline(schedule, at, spec.grace_s, spec.timeout_s) + max(0.0, now - at)
        done = script(
            keys=[state_key, pending_key, raw.key, raw.queue_key, queues_key()],
            args=[_ms(at), 1, raw.id, _ms(late_at), raw.queue_key, _ms(now), *fields],
        )
        if done == 1:
            log.info(
                "periodic job %s: tick %s enqueued as job %s",
                spec.name,
                iso(at),
                raw.id,
                extra={"job_id": raw.id, "job": spec.name, "queue": spec.queue},
            )
    if plan.more:
        return now
    recorded = max([last, *(at for at, _ in plan.ticks)])
    return schedule.next_after(max(recorded, now))


def _check_grace(connection: redis.Redis, published: list[PeriodicSpec], now: float) -> list[float]:
    """Alert for the ticks past their deadline; returns the deadlines still ahead (the earliest of each)."""
    pipeline = connection.pipeline(transaction=False)
    for spec in published:
        pipeline.zrange(_keys.periodic_pending(spec.name), 0, -1, withscores=True)
    ahead: list[float] = []
    script = connection.register_script(_GRACE)
    for spec, pending in zip(published, pipeline.execute(), strict=True):
        late = [(int(tick), score) for tick, score in pending if score <= _ms(now)]
        later = [score for _, score in pending if score > _ms(now)]
        if later:
            ahead.append(min(later) / 1000)
        if not late:
            continue
        alert = grace_alert(spec, [tick / 1000 for tick, _ in late], now)
        keys = [
            _keys.periodic_pending(spec.name),
            _keys.check_state("periodic", spec.name),
            _keys.alert_outbox(),
        ]
        args: list[str | int] = [alert.to_json(), OUTBOX_LIMIT, _ms(now), *(tick for tick, _ in late)]
        if script(keys=keys, args=args) == 1:
            log.error(
                "ALERT %s: %s", alert.title, alert.message, extra={"outcome": "alert", "details": alert.tags}
            )
    return ahead


def grace_alert(spec: PeriodicSpec, late: list[float], now: float) -> Alert:
    """The alert for ticks of ``spec`` whose run has not ended by its deadline."""
    first = min(late)
    more = f" (and {len(late) - 1} later tick(s))" if len(late) > 1 else ""
    allowed = (
        f"grace_s = {spec.grace_s:g} s"
        if spec.grace_s is not None
        else f"the default grace: until the next tick plus timeout_s ({spec.timeout_s:g} s)"
    )
    return Alert(
        title=f"periodic job {spec.name} is late: its run for {iso(first)} has not ended",
        message=(
            f"The run of {spec.name} ({spec.schedule.describe()}) scheduled for {iso(first)}{more} has not "
            f"succeeded, ended negative or been dead-lettered within {allowed}, as of {iso(now)}. "
            f"Remediation: check that a worker serves queue {spec.queue!r} and imports {spec.name} "
            "(`stalwart schedule` shows its last outcome), and whether its run is stuck. This alert is not "
            "raised again until a run of this job ends."
        ),
        tags={"job": spec.name, "queue": spec.queue, "periodic": "late"},
        fingerprint=["stalwart.periodic", spec.name],
        context={"late_ticks": [iso(t) for t in sorted(late)], "schedule": spec.schedule.describe()},
    )
