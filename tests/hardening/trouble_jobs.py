"""Job classes for the "people's terminals" and "Redis in trouble" tests (issue 11).

Workers import this module by name: ``--import tests.hardening.trouble_jobs``.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

from jobs import Job, connect, idempotency_guard, stats
from resilience import Fixed


class TroubleFails(Job):
    """Always fails with the message it is given: dead-lettered ``non_retryable`` after one attempt."""

    name = "hardening.TroubleFails"

    def perform(self, message: str) -> None:
        raise RuntimeError(message)


class TroubleAppends(Job):
    """Appends a line to a file: the tests count runs with it."""

    name = "hardening.TroubleAppends"

    def perform(self, path: str, text: str = "ran") -> str:
        with Path(path).open("a") as out:
            out.write(text + "\n")
        return text


class TroubleFailsUntilFileExists(Job):
    """Fails (non-retryable) until ``path`` exists; a replay after the file is created succeeds."""

    name = "hardening.TroubleFailsUntilFileExists"

    def perform(self, path: str) -> str:
        if not Path(path).exists():
            raise LookupError(f"{path} does not exist yet")
        return "found"


class TroubleBlocksUntilReleased(Job):
    """Writes its pid to ``started``, then waits (at most 60 s) for the file ``release`` to exist."""

    name = "hardening.TroubleBlocksUntilReleased"

    def perform(self, started: str, release: str) -> str:
        Path(started).write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while not Path(release).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{release} was not created within 60 s")
            time.sleep(0.05)
        return "released"


class TroubleWarns(Job):
    """Issues a Python warning (as a library warning about its use would), then succeeds."""

    name = "hardening.TroubleWarns"

    def perform(self, text: str) -> str:
        warnings.warn(text, UserWarning, stacklevel=1)
        return text


class TroubleRetriesOnce(Job):
    """Fails with a declared transient error until ``marker`` exists (it creates it), so it runs twice."""

    name = "hardening.TroubleRetriesOnce"
    retry_on = (ConnectionRefusedError,)
    backoff = Fixed(1)

    def perform(self, marker: str) -> str:
        if not Path(marker).exists():
            Path(marker).touch()
            raise ConnectionRefusedError("the dependency is not up yet")
        return "ran twice"


class TroubleBehindCircuit(Job):
    """Behind a circuit; fails with the circuit's declared error (so the circuit counts it), once."""

    name = "hardening.TroubleBehindCircuit"
    retry_on = (ConnectionRefusedError,)
    max_attempts = 1
    circuit = "trouble-dependency"

    def perform(self) -> None:
        raise ConnectionRefusedError("the dependency is down")


class TroubleGuarded(Job):
    """Guards its side effect with an idempotency guard, and counts it with an application counter."""

    name = "hardening.TroubleGuarded"

    def perform(self, key: str) -> bool:
        with idempotency_guard().once(key) as first:
            stats.incr("trouble.guarded")
            return first


class TroubleFillsRedis(Job):
    """Makes its Redis refuse every write (maxmemory below what it uses, no eviction), then succeeds."""

    name = "hardening.TroubleFillsRedis"

    def perform(self) -> None:
        connection = connect()
        connection.config_set("maxmemory-policy", "noeviction")
        connection.config_set("maxmemory", 1)
