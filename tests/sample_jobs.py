"""Job classes the tests run. Workers import this module by name (--import tests.sample_jobs)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from jobs import Job, Negative
from jobs.context import current_request_id


class Add(Job):
    name = "tests.Add"

    def perform(self, a: int, b: int) -> int:
        return a + b


class Noop(Job):
    name = "tests.Noop"

    def perform(self) -> None:
        return None


class ChargeCard(Job):
    name = "tests.ChargeCard"
    queue = "billing"

    def perform(self, customer_id: int, card: str, api_token: str = "") -> str | Negative:
        if card == "declined":
            return Negative("card_declined", customer_id=customer_id, code="05", api_token=api_token)
        return f"auth-{customer_id}"


class SaveReport(Job):
    name = "tests.SaveReport"
    remediation = "Free some disk, then replay the job."

    def describe(self, month: str) -> str:
        return f"saving the {month} report"

    def perform(self, month: str) -> None:
        try:
            raise OSError("disk full")
        except OSError as err:
            raise RuntimeError(f"could not write report {month}") from err


class ReturnsSet(Job):
    name = "tests.ReturnsSet"

    def perform(self) -> Any:
        return {1, 2}


class TouchFile(Job):
    """Appends a line to a file: the tests count side effects with it."""

    name = "tests.TouchFile"

    def perform(self, path: str, text: str = "ran") -> str:
        with Path(path).open("a") as f:
            f.write(text + "\n")
        return text


class KillsItsWorkHorse(Job):
    """Dies the way an out-of-memory kill does: SIGKILL, mid-job."""

    name = "tests.KillsItsWorkHorse"

    def perform(self, path: str) -> None:
        Path(path).write_text("started\n")
        os.kill(os.getpid(), signal.SIGKILL)


class RecordsRequestId(Job):
    """Returns the request id it ran under, and enqueues a child job when asked."""

    name = "tests.RecordsRequestId"

    def perform(self, spawn_child: bool = False) -> dict[str, Any]:
        child = RecordsRequestId.enqueue(spawn_child=False).id if spawn_child else None
        return {"request_id": self.request_id, "current": current_request_id(), "child": child}
