"""``stalwart demo``: a short end-to-end run on an embedded Redis, leaving nothing behind.

It enqueues a few jobs that succeed, one that returns a Negative (a declined
card: a normal outcome), one refused once and retried, one that fails, and a
forged payload naming ``os.system``; runs a forking worker until the queue is
empty; prints what each job ended as, the dead-letter queue and two JSON log
lines; then fixes the cause, replays the failed job from the dead-letter queue,
discards the forged one with a reason, and shows their audit trails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from resilience import Fixed

from . import logs
from .connection import connect
from .dead_letter import DeadLetterQueue
from .embedded import EmbeddedRedis
from .handle import JobHandle
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
    """Fails until the report template is restored (a key in Redis stands for it)."""

    name = "demo.BuildReport"
    remediation = "Restore the report template, then replay the job."

    def describe(self, month: str) -> str:
        return f"building the {month} report"

    def perform(self, month: str) -> str:
        if connect().get("demo:template") is None:
            raise FileNotFoundError(f"template for {month} is missing")
        return f"report-{month}.pdf"


class SyncInventory(Job):
    """Refused once by a flaky warehouse API, then fine: a declared transient error, retried."""

    name = "demo.SyncInventory"
    retry_on = (ConnectionRefusedError,)
    backoff = Fixed(0.5)

    def perform(self, warehouse: str) -> str:
        if connect().incr(f"demo:calls:{warehouse}") == 1:
            raise ConnectionRefusedError(f"warehouse {warehouse} refused the connection")
        return f"synced {warehouse} on attempt {self.attempt}"


def run_demo() -> int:
    """Run the demonstration and print what happened; returns the exit code."""
    home = Path(tempfile.mkdtemp(prefix="stalwart-demo-"))
    previous_url = os.environ.get("REDIS_URL")
    server = EmbeddedRedis(home)
    try:
        url = server.start()
        os.environ["REDIS_URL"] = url  # jobs that connect() themselves find the demo's Redis
        print(f"1. Started an embedded Redis at {url}\n")
        connection = connect(url)
        # A line-buffered file, not memory: forked work-horses write their lines here too.
        with (home / "worker.log").open("w", buffering=1) as log_file:
            logs.configure("INFO", stream=log_file)
            marker = home / "forged-payload-ran"
            forged_id = _first_run(connection, marker)
            if forged_id is None:
                return 1
            print("5. Two of the worker's JSON log lines:\n")
            lines = [line for line in (home / "worker.log").read_text().splitlines() if '"job ended' in line]
            for line in lines[:2]:
                print(f"   {line}")
            succeeded = _fix_and_replay(connection, forged_id)
        return 0 if succeeded and not marker.exists() else 1
    finally:
        if previous_url is None:
            os.environ.pop("REDIS_URL", None)
        else:
            os.environ["REDIS_URL"] = previous_url
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
        print("\n7. Stopped the embedded Redis and removed its data: nothing is left running.")


def _first_run(connection: redis.Redis, marker: Path) -> str | None:
    """Steps 2 to 4: enqueue, drain, show the outcomes and the dead-letter queue; the forged job's id."""
    handles = [SendWelcomeEmail.enqueue(connection=connection, user_id=i) for i in (1, 2)]
    handles.append(ChargeCard.enqueue(connection=connection, customer_id=42, card="4000-0000-0000-0002"))
    handles.append(ChargeCard.enqueue(connection=connection, customer_id=7, card="4000-0000-0000-0077"))
    handles.append(BuildReport.enqueue(connection=connection, month="2026-10"))
    handles.append(SyncInventory.enqueue(connection=connection, warehouse="north"))
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
    entries = DeadLetterQueue(connection).list()
    for entry in entries:
        print(f"   [{entry.classification}] {entry.message}\n")
    if forged.id not in {e.id for e in entries}:
        print("   (the forged payload is missing from the dead-letter queue: this is a bug)")
        return None
    return str(forged.id)


def _fix_and_replay(connection: redis.Redis, forged_id: str) -> bool:
    """Step 6: restore the template, replay the report, discard the forged job; True if the replay worked."""
    print("\n6. The template is restored: replay the report from the dead-letter queue, and discard the")
    print("   forged payload with a reason (both stay in the audit trail):\n")
    connection.set("demo:template", "restored")
    dlq = DeadLetterQueue(connection)
    replayed = dlq.replay_all(job="demo.BuildReport", by="demo")
    dlq.discard(forged_id, reason="forged payload: nobody enqueued os.system", by="demo")
    Worker(["default"], connection=connection, mode="fork").work(burst=True)
    for entry in (dlq.get(replayed[0].id), dlq.get(forged_id)):
        trail = "; ".join(f"{a['action']} -> {a['result']}" for a in entry.audit)
        print(f"   {entry.job:<24} {entry.status:<10} audit: {trail}")
    report = JobHandle(dlq.get(replayed[0].id).replays[-1], BuildReport.name, connection)
    print(f"\n   the replayed report: {report.status().value}, {report.result()!r}")
    return report.status().value == "succeeded"
