"""``CircuitBreaker``: stop calling a dependency that keeps failing, and try it again later, once.

States: *closed* (calls go through; declared failures are counted), *open*
(after ``failure_threshold`` consecutive declared failures: calls are refused
until ``reset_after_s`` has passed), *half-open* (one trial call is let
through; its success closes the circuit, its failure opens it again).

The state lives in Redis and is changed by Lua scripts, so every process of a
fleet shares one breaker per name: a per-process breaker never opens under a
forking worker, whose every job runs in a fresh process. Time is passed in
(``now``), never read inside, so the logic is testable without waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis

from .classify import declared_match
from .errors import ResilienceError

log = logging.getLogger("resilience.circuit")

_ALLOW = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'closed' then return {'closed', '1', '0'} end
local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
local reset_after = tonumber(ARGV[2])
local wait = opened + reset_after - tonumber(ARGV[1])
if wait > 0 then return {state, '0', tostring(wait)} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', math.max(1, math.floor(reset_after * 1000))) then
  redis.call('HSET', KEYS[1], 'state', 'half_open')
  return {'half_open', '1', '0'}
end
return {'half_open', '0', tostring(reset_after)}
"""

_FAILURE = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if state == 'half_open' or (state == 'closed' and failures >= tonumber(ARGV[2])) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[1])
  redis.call('DEL', KEYS[2])
  return {'opened', tostring(failures)}
end
return {state, tostring(failures)}
"""

_SUCCESS = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
redis.call('HSET', KEYS[1], 'failures', 0)
if state == 'half_open' then
  redis.call('HSET', KEYS[1], 'state', 'closed')
  redis.call('DEL', KEYS[2])
  return 'closed'
end
return state
"""


class CircuitOpen(ResilienceError):
    """A call was refused because its circuit is open."""

    def __init__(self, name: str, retry_in_s: float) -> None:
        self.name = name
        self.retry_in_s = retry_in_s
        super().__init__(f"circuit {name!r} is open; next trial in {retry_in_s:.1f} s")


@dataclass(frozen=True)
class Admission:
    """Whether a call may go ahead now, and if not, how long until the next trial."""

    allowed: bool
    state: str
    retry_in_s: float = 0.0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class CircuitBreaker:
    """One named breaker, shared through ``connection`` by every process that uses the same name."""

    def __init__(
        self,
        name: str,
        connection: redis.Redis,
        *,
        failure_threshold: int = 5,
        reset_after_s: float = 30.0,
        on: Iterable[type[BaseException]] = (Exception,),
        key_prefix: str = "stalwart:circuit:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not name:
            raise ValueError("a circuit needs a name, e.g. CircuitBreaker('payment-gateway', connection)")
        if failure_threshold < 1 or reset_after_s <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_after_s > 0")
        self.name = name
        self.connection = connection
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self.on = tuple(on)
        self.clock = clock
        self._keys = [f"{key_prefix}{name}", f"{key_prefix}{name}:trial"]
        self._allow = connection.register_script(_ALLOW)
        self._failure = connection.register_script(_FAILURE)
        self._success = connection.register_script(_SUCCESS)

    def admit(self, now: float | None = None) -> Admission:
        """May a call go ahead now? In half-open state exactly one caller is let through."""
        state, allowed, wait = self._allow(keys=self._keys, args=[self._now(now), self.reset_after_s])
        return Admission(_text(allowed) == "1", _text(state), float(_text(wait)))

    def record_failure(self, error: BaseException, now: float | None = None) -> bool:
        """Count ``error`` if it is of a declared type; returns True if this opened the circuit."""
        if declared_match(error, self.on) is None:
            return False
        state, failures = self._failure(keys=self._keys, args=[self._now(now), self.failure_threshold])
        if _text(state) == "opened":
            log.error(
                "circuit %r opened after %s failures (last: %s: %s); next trial in %.0f s",
                self.name,
                _text(failures),
                type(error).__name__,
                error,
                self.reset_after_s,
                extra={"circuit": self.name, "outcome": "circuit_opened"},
            )
            return True
        return False

    def record_success(self) -> bool:
        """A call succeeded; returns True if this closed the circuit (a half-open trial succeeded)."""
        if _text(self._success(keys=self._keys)) == "closed":
            log.info(
                "circuit %r closed: a trial call succeeded",
                self.name,
                extra={"circuit": self.name, "outcome": "circuit_closed"},
            )
            return True
        return False

    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        raw = self.connection.hget(self._keys[0], "state")
        return _text(raw) if raw is not None else "closed"

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn`` through the breaker: raise CircuitOpen instead while it is open."""
        admission = self.admit()
        if not admission.allowed:
            raise CircuitOpen(self.name, admission.retry_in_s)
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            self.record_failure(error)
            raise
        self.record_success()
        return result

    def _now(self, now: float | None) -> float:
        return now if now is not None else self.clock()
