"""The Lua scripts' shared parts: registering a script once, and Redis's clock inside a script."""

from __future__ import annotations

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
