"""Job classes for the "people's terminals" and "Redis in trouble" tests (issue 11).

Workers import this module by name: ``--import tests.hardening.trouble_jobs``.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

from jobs import Job


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
