"""Job classes for tests/hardening/test_untrusted_data.py (issue 11, "Data from Redis is not trusted").

Workers import this module by name (``--import tests.hardening.untrusted_jobs``). Every job that has a
side effect appends one line to the file it is given, so a test counts runs by counting lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobs import Job


def _ran(path: str, text: str = "ran") -> None:
    with Path(path).open("a") as f:
        f.write(text + "\n")


class Succeeds(Job):
    """Records that it ran, and succeeds."""

    name = "hardening.UntrustedSucceeds"

    def perform(self, path: str) -> str:
        _ran(path)
        return "ok"


class FailsNotRetryable(Job):
    """Records that it ran, then raises an error it does not declare: dead-lettered non_retryable at once."""

    name = "hardening.UntrustedFailsNotRetryable"

    def describe(self, path: str) -> str:
        return "writing the untrusted-data test's side effect"

    def perform(self, path: str) -> None:
        _ran(path)
        raise RuntimeError("the side effect was written, then this job failed")


class ChargeTimesOut(Job):
    """Records that it ran (the "charge"), then times out: ambiguous, and not idempotent, so never retried."""

    name = "hardening.UntrustedChargeTimesOut"
    ambiguous_on = (TimeoutError,)

    def perform(self, path: str) -> None:
        _ran(path, "charged")
        raise TimeoutError("the gateway did not answer after the charge was sent")


class TakesATree(Job):
    """Takes an arbitrarily nested argument; records that it ran, then fails (so the failure path runs)."""

    name = "hardening.UntrustedTakesATree"

    def perform(self, path: str, tree: Any) -> None:
        _ran(path)
        raise RuntimeError("failed after reading the tree")


class TakesText(Job):
    """Takes a text argument of any size; records that it ran, and succeeds."""

    name = "hardening.UntrustedTakesText"

    def perform(self, path: str, text: str) -> int:
        _ran(path)
        return len(text)


class TakesANumber(Job):
    """Takes a number; records it, and succeeds."""

    name = "hardening.UntrustedTakesANumber"

    def perform(self, path: str, number: float) -> str:
        _ran(path, repr(number))
        return "ok"


class TakesAnyKeyword(Job):
    """Takes any keyword arguments (``**kwargs``), including ones named like ``perform``'s own parameters."""

    name = "hardening.UntrustedTakesAnyKeyword"

    def perform(self, **kwargs: Any) -> str:
        return "ok"


class RaisesAHugeError(Job):
    """Fails with an error whose message is ``size`` characters long."""

    name = "hardening.UntrustedRaisesAHugeError"

    def perform(self, size: int) -> None:
        raise RuntimeError("the gateway answered: " + "x" * size)


def forged_callback(job: Any, connection: Any, *args: Any) -> None:
    """What a forged ``failure_callback_name`` names in the tests: it records that it was called."""
    connection.set("hardening:forged-callback-ran", job.id)
