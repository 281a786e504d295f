"""``stalwart demo``: a short end-to-end run on an embedded Redis, leaving nothing behind.

It enqueues a few jobs that succeed, one that returns a Negative (a declined
card: a normal outcome), one that fails, and a forged payload naming
``os.system``; runs a forking worker until the queue is empty; and prints what
each job ended as, the dead-letter queue, and a few of the JSON log lines.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from rq import Queue
from rq.serializers import JSONSerializer

from . import logs
from .connection import connect
from .dead_letter import DeadLetterQueue
from .embedded import EmbeddedRedis
from .job import Job
from .outcome import Negative
from .worker import Worker


class SendWelcomeEmail(Job):
    """Succeeds: returns the message id."""

    name = "demo.SendWelcomeEmail"

    def perform(self, user_id: int) -> str:
        return f"msg-{user_id:04d}"


class ChargeCard(Job):
    """Succeeds with an authorization code, or returns a Negative for a declined card."""

    name = "demo.ChargeCard"

    def describe(self, customer_id: int, card: str) -> str:
        return f"charging customer {customer_id}"

    def perform(self, customer_id: int, card: str) -> str | Negative:
        if card.endswith("0002"):
            return Negative("card_declined", customer_id=customer_id, code="05")
        return f"auth-{customer_id}"


class BuildReport(Job):
    """Fails: the report template is missing."""

    name = "demo.BuildReport"
    remediation = "Restore the report template, then replay the job."

    def describe(self, month: str) -> str:
        return f"building the {month} report"

    def perform(self, month: str) -> None:
        raise FileNotFoundError(f"template for {month} is missing")


def run_demo() -> int:
    """Run the demonstration and print what happened; returns the exit code."""
    home = Path(tempfile.mkdtemp(prefix="stalwart-demo-"))
    server = EmbeddedRedis(home)
    try:
        url = server.start()
        print(f"1. Started an embedded Redis at {url}\n")
        connection = connect(url)
        # A line-buffered file, not memory: forked work-horses write their lines here too.
        log_file = (home / "worker.log").open("w", buffering=1)
        logs.configure("INFO", stream=log_file)

        handles = [SendWelcomeEmail.enqueue(connection=connection, user_id=i) for i in (1, 2)]
        handles.append(ChargeCard.enqueue(connection=connection, customer_id=42, card="4000-0000-0000-0002"))
        handles.append(ChargeCard.enqueue(connection=connection, customer_id=7, card="4000-0000-0000-0077"))
        handles.append(BuildReport.enqueue(connection=connection, month="2026-10"))
        marker = home / "forged-payload-ran"
        forged = Queue("default", connection=connection, serializer=JSONSerializer).enqueue_call(
            func="os.system", args=[f"touch {marker}"], description="forged"
        )
        print(f"2. Enqueued {len(handles)} jobs, and one forged payload naming os.system\n")

        Worker(["default"], connection=connection, mode="fork").work(burst=True)
        print("3. A forking worker drained the queue. Outcomes:\n")
        print(f"   {'job':<24} {'status':<14} result")
        for handle in handles:
            status = handle.status()
            result = handle.result() if status.value in ("succeeded", "negative") else "-"
            print(f"   {handle.job:<24} {status.value:<14} {result!r}")
        print(f"\n   forged os.system payload ran: {marker.exists()}\n")

        print("4. The dead-letter queue:\n")
        for entry in DeadLetterQueue(connection).list():
            print(f"   [{entry.classification}] {entry.message}\n")
        if forged.id not in {e.id for e in DeadLetterQueue(connection).list()}:
            print("   (the forged payload is missing from the dead-letter queue: this is a bug)")
            return 1

        print("5. Two of the worker's JSON log lines:\n")
        log_file.close()
        lines = [line for line in (home / "worker.log").read_text().splitlines() if '"job ended' in line]
        for line in lines[:2]:
            print(f"   {line}")
        return 0 if not marker.exists() else 1
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
        print("\n6. Stopped the embedded Redis and removed its data: nothing is left running.")
