"""The Lua scripts' shared parts: registering a script once, and Redis's clock inside a script."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis
from redis.commands.core import Script

# Redis's clock (``TIME``) in epoch seconds, and a score written to the microsecond. Read inside a script,
# it is the one clock every producer, worker and scheduler agrees on.
TIME_HELPERS = """
local function redis_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function exact(seconds)
  return string.format('%.6f', seconds)
end
"""

# KEYS: one key. ARGV: a value. Deletes the key only if it still holds that value (a lease given up, a
# claim released): whoever holds it now keeps it.
COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_SCRIPTS: dict[str, Script] = {}


def script(source: str) -> Script:
    """The script for ``source``; every call passes its client (a connection, or a pipeline, which loads
    its scripts before it runs)."""
    found = _SCRIPTS.get(source)
    if found is None:
        # Registered on a client that never connects: a Script needs one only for its encoder.
        found = _SCRIPTS[source] = Script(redis.Redis(), source)
    return found


@dataclass
class Call:
    """One run of a script, to send with others in one round trip (``run_together``)."""

    source: str
    keys: list[Any]
    args: list[Any]
    reply: Any = field(default=None, init=False)


def run_together(client: redis.Redis, calls: list[Call]) -> None:
    """Run ``calls`` in one round trip, in order, each reply (or the error it raised) in its ``reply``.

    By hash (EVALSHA), without the check a redis-py pipeline sends first for its scripts (one more round
    trip each time); a script Redis does not know (it restarted) is loaded and that call sent again: it
    did not run.
    """
    pending = list(calls)
    for _ in range(2):
        with client.pipeline(transaction=False) as pipeline:
            for call in pending:
                sha = script(call.source).sha
                pipeline.execute_command(  # type: ignore[no-untyped-call]
                    "EVALSHA", sha, len(call.keys), *call.keys, *call.args
                )
            replies = pipeline.execute(raise_on_error=False)
        for call, reply in zip(pending, replies, strict=True):
            call.reply = reply
        pending = [call for call in pending if isinstance(call.reply, redis.exceptions.NoScriptError)]
        if not pending:
            return
        for call in pending:
            client.script_load(call.source)
