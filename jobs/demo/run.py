"""``stalwart demo``: a month of billing against a flaky payment gateway, proved against its ledger.

It runs the billing example (``jobs.demo.billing``) on an embedded Redis, with no
other service:

1. The payment gateway simulator refuses some calls, times out before or after
   charging, garbles some answers and declines some cards; two customers have
   a fee of 0 in their billing data; and a forged payload naming os.system is
   slipped into the queue.
2. 500 monthly charges are enqueued and two worker processes run them, with a
   live progress bar. Near the end the gateway goes down.
3. A table shows how the jobs ended: succeeded, negative (declined cards, by
   reason), retried, dead-lettered (by classification); then the dead-letter
   queue.
4. The gateway comes back, the billing data is fixed: the charges are replayed
   from the dead-letter queue (the two bad amounts with corrected arguments)
   and the forged payload is discarded with a reason.
5. The final table, and the proof against the gateway's ledger: no job lost,
   no customer charged twice, every charge known to the application.

It takes well under a minute and leaves nothing running. The exit code is 0
only if the proof holds.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .. import _keys, stats
from ..connection import EmbeddedRedis, connect
from ..dead_letter import DeadLetterEntry, DeadLetterQueue
from ..errors import ConfigurationError
from ..model.outcome import Status
from ..rq_adapter.enqueue import queue
from ..rq_adapter.handle import statuses
from ..rq_adapter.job_format import job_key
from ..telemetry import logs
from . import billing, enqueue, gateway, reconcile

MONTH = "2026-11"
FINAL = frozenset({Status.SUCCEEDED, Status.NEGATIVE, Status.DEAD_LETTERED})
_PHASE_DEADLINE_S = 180.0
_STOP_WAIT_S = 20.0
# Workers read these; the demo uses no service but its own Redis.
_FOREIGN_SETTINGS = ("SENTRY_DSN", "STALWART_ALERT_COMMAND", "STATSD_HOST", "REDIS_URL")


@dataclass
class _Tally:
    """How a set of jobs ended."""

    statuses: Counter[Status] = field(default_factory=Counter)
    retried_jobs: int = 0
    retries: int = 0
    negative: Counter[str] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)


def run_demo(charges: int = 500, workers: int = 2) -> int:
    """Run the demonstration and print what happened; returns the exit code."""
    example = _billing_example()
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 110  # a pipe or a CI log: wide enough for the tables
    home = Path(tempfile.mkdtemp(prefix="stalwart-demo-"))
    server = EmbeddedRedis(home)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        url = server.start()
        connection = connect(url)
        console.print(f"[bold]1.[/] Started an embedded Redis at {url} (data in {home})")
        with (home / "demo.log").open("w", buffering=1) as log_file:
            logs.configure("WARNING", stream=log_file)
            demo = _Demo(example, connection, console, home, charges)
            demo.set_up()
            processes = _start_workers(url, home, workers)
            console.print(
                f"    Started {workers} worker processes: pids {', '.join(str(p.pid) for p in processes)}\n"
            )
            ok = demo.run(processes)
            _stop_workers(processes, console)
        return 0 if ok else 1
    finally:
        _kill(processes)
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
        console.print("\nStopped the embedded Redis and removed its data: nothing is left running.")


class _Demo:
    def __init__(
        self,
        example: dict[str, ModuleType],
        connection: redis.Redis,
        console: Console,
        home: Path,
        charges: int,
    ) -> None:
        self.billing, self.gateway_module = example["billing"], example["gateway"]
        self.reconcile_module, self.enqueue_module = example["reconcile"], example["enqueue"]
        self.connection = connection
        self.console = console
        self.home = home
        self.customers = range(1, charges + 1)
        self.bad_amounts = frozenset({charges // 3, 2 * charges // 3})
        self.gateway = self.gateway_module.Gateway(connection)
        self.dlq = DeadLetterQueue(connection)
        self.job_ids: list[str] = []
        self.forged_id = ""
        self.marker = home / "forged-payload-ran"

    def set_up(self) -> None:
        faults = self.gateway_module.Faults(
            refuse=0.04, timeout_before=0.02, timeout_after=0.03, garble=0.01, decline=0.06, seed="demo"
        )
        self.gateway.configure(faults)
        self.console.print(
            "[bold]2.[/] The payment gateway refuses 4% of calls, times out on 2% before and 3% after "
            "charging,\n    garbles 1% of answers, and declines 6% of cards. Customers "
            f"{' and '.join(str(c) for c in sorted(self.bad_amounts))} have a fee of 0 in their billing data."
        )
        handles = self.enqueue_module.enqueue_month(MONTH, self.customers, self.bad_amounts, self.connection)
        self.job_ids = [h.id for h in handles]
        forged = queue("billing", self.connection).enqueue_call(
            func="os.system", args=[f"touch {self.marker}"], description="forged"
        )
        self.forged_id = str(forged.id)
        self.console.print(
            f"    Enqueued {len(handles)} charges for {MONTH}, and a forged payload naming os.system.\n"
        )

    def run(self, processes: Sequence[subprocess.Popen[bytes]]) -> bool:
        stats_before = self._stats()
        outage_at = int(len(self.job_ids) * 0.85)

        def outage(done: int) -> str | None:
            if done >= outage_at and not self.connection.exists(self.gateway_module.DOWN):
                self.gateway.down("acquirer outage")
                return f"the gateway goes down ({done} of {len(self.job_ids)} jobs done): an outage"
            return None

        self._await("charging", [*self.job_ids, self.forged_id], processes, outage)
        first = self._tally(self.job_ids, stats_before)
        self.console.print("\n[bold]3.[/] How the billing run ended:\n")
        self.console.print(_outcome_table(first, len(self.job_ids)))
        self.console.print(f"    The forged os.system payload ran: {self.marker.exists()}\n")
        self._print_dead_letters()

        replays = self._fix_and_replay()
        stats_before = self._stats()
        self._await("replaying", replays, processes, None)
        final_ids = self._final_ids()
        final = self._tally(final_ids, None)
        final.retried_jobs, final.retries = first.retried_jobs, first.retries
        final.negative = first.negative + self._tally(replays, stats_before).negative
        final.dead = Counter(
            str(e.classification) for e in self.dlq.get_many(self.job_ids) if e.status == "dead"
        )
        self.console.print("\n[bold]5.[/] How every charge ended, following the replays:\n")
        self.console.print(_outcome_table(final, len(self.job_ids)))
        by_status = Counter(entry.status for entry in self.dlq.list())
        self.console.print(
            "    Dead-letter queue: "
            + ", ".join(f"{count} {status}" for status, count in sorted(by_status.items()))
            + "; every entry keeps its audit trail\n"
        )
        return self._prove(final)

    def _stats(self) -> dict[str, float]:
        return stats.read(self.connection, 3600).get(self.billing.ChargeMonthlyFee.name, {})

    def _await(
        self,
        what: str,
        job_ids: list[str],
        processes: Sequence[subprocess.Popen[bytes]],
        on_progress: Callable[[int], str | None] | None,
    ) -> None:
        """Show a progress bar until every job in ``job_ids`` has ended."""
        columns = (
            TextColumn(f"    {what}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
        )
        deadline = time.monotonic() + _PHASE_DEADLINE_S
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task(what, total=len(job_ids), detail="")
            while True:
                now = Counter(statuses(self.connection, job_ids))
                done = sum(now[s] for s in FINAL)
                detail = (
                    f"succeeded {now[Status.SUCCEEDED]} · negative {now[Status.NEGATIVE]} · "
                    f"waiting to retry {now[Status.SCHEDULED]} · dead-lettered {now[Status.DEAD_LETTERED]}"
                )
                progress.update(task, completed=done, detail=detail)
                if on_progress is not None and (news := on_progress(done)) is not None:
                    progress.console.print(f"    [bold red]{news}[/]")
                if done == len(job_ids):
                    return
                for number, process in enumerate(processes, start=1):
                    if process.poll() is not None:
                        raise ConfigurationError(
                            f"worker {process.pid} exited with code {process.returncode}; "
                            f"see its log, {self.home}/worker-{number}.log"
                        )
                if time.monotonic() > deadline:
                    raise ConfigurationError(
                        f"{len(job_ids) - done} jobs had not ended after {_PHASE_DEADLINE_S:.0f} s; "
                        f"see the worker logs in {self.home}"
                    )
                time.sleep(0.2)

    def _tally(self, job_ids: list[str], stats_before: dict[str, float] | None) -> _Tally:
        tally = _Tally(statuses=Counter(s for s in statuses(self.connection, job_ids) if s is not None))
        with self.connection.pipeline(transaction=False) as pipeline:
            for job_id in job_ids:
                pipeline.hget(job_key(job_id), _keys.FIELD_ATTEMPT)
            attempts = [int(raw) if raw else 0 for raw in pipeline.execute()]
        tally.retried_jobs = sum(1 for a in attempts if a > 1)
        tally.retries = sum(a - 1 for a in attempts if a > 1)
        if stats_before is not None:
            after = self._stats()
            for metric, value in after.items():
                if metric.startswith("negative."):
                    added = int(value - stats_before.get(metric, 0))
                    if added:
                        tally.negative[metric.removeprefix("negative.")] = added
        for entry in self.dlq.get_many(job_ids):
            if entry.status == "dead":
                tally.dead[str(entry.classification)] += 1
        return tally

    def _print_dead_letters(self) -> None:
        entries = self.dlq.list(status="dead")
        self.console.print(f"[bold]4.[/] The dead-letter queue holds {len(entries)} entries:\n")
        groups = Counter((str(e.classification), e.error_type) for e in entries)
        table = Table(box=None, padding=(0, 2, 0, 4))
        for column in ("entries", "classification", "error", "an example"):
            table.add_column(column)
        for (classification, error_type), count in groups.most_common():
            example = next(
                e for e in entries if (str(e.classification), e.error_type) == (classification, error_type)
            )
            table.add_row(str(count), classification, error_type, _summary(example))
        self.console.print(table)
        self.console.print()

    def _fix_and_replay(self) -> list[str]:
        """Bring the gateway back, fix the bad amounts, replay every charge; discard the forged payload."""
        self.console.print(
            "[bold]4b.[/] The gateway is back and the billing data is fixed. "
            "Replay from the dead-letter queue:"
        )
        self.gateway.up()
        replays: list[str] = []
        for entry in self.dlq.list(status="dead", error_type="InvalidRequest"):
            fixed = {**entry.kwargs, "amount_cents": self.billing.fee_for(int(entry.kwargs["customer_id"]))}
            replays.append(self.dlq.replay(entry.id, kwargs=fixed, by="demo"))
            customer = entry.kwargs["customer_id"]
            self.console.print(
                f"    replayed customer {customer}'s charge with amount_cents={fixed['amount_cents']}"
            )
        rest = self.dlq.replay_all(job=self.billing.ChargeMonthlyFee.name, by="demo")
        replays += [entry.replays[-1] for entry in rest]
        self.console.print(f"    replayed the other {len(rest)} charges as they were (same idempotency keys)")
        self.dlq.discard(self.forged_id, reason="forged payload: nobody enqueues os.system", by="demo")
        self.console.print("    discarded the forged payload, with the reason in its audit trail\n")
        return replays

    def _final_ids(self) -> list[str]:
        """For each charge, the job that ended it: itself, or its last replay."""
        entries = {e.id: e for e in self.dlq.get_many(self.job_ids)}
        return [entries[i].replays[-1] if i in entries and entries[i].replays else i for i in self.job_ids]

    def _prove(self, final: _Tally) -> bool:
        result = self.reconcile_module.reconcile(MONTH, self.customers, self.connection)
        ledger = self.gateway.charges_per_customer(self.billing.reference_for(MONTH))
        lost = len(self.job_ids) - final.statuses[Status.SUCCEEDED] - final.statuses[Status.NEGATIVE]
        self.console.print("[bold]6.[/] The proof, against the gateway's ledger:\n")
        lines = [
            f"jobs lost (not succeeded, not negative): {lost}",
            f"customers charged twice:                {len(result.charged_twice)}",
            f"charges the application doesn't know:   {len(result.charged_without_invoice)}",
            f"paid invoices without a charge:         {len(result.paid_without_charge)}",
            f"charges in the ledger / paid invoices:  {sum(ledger.values())} / {result.paid}",
            f"forged payload ran:                     {self.marker.exists()}",
        ]
        for line in lines:
            self.console.print(f"    {line}")
        ok = lost == 0 and result.ok and not self.marker.exists()
        verdict = "[bold green]proved[/]" if ok else "[bold red]NOT proved: this is a bug[/]"
        self.console.print(f"\n    {verdict}")
        return ok


def _outcome_table(tally: _Tally, total: int) -> Table:
    table = Table(box=None, padding=(0, 2, 0, 4))
    table.add_column("outcome")
    table.add_column("jobs", justify="right")
    table.add_row("succeeded", str(tally.statuses[Status.SUCCEEDED]))
    table.add_row("negative (declined card)", str(tally.statuses[Status.NEGATIVE]))
    for reason, count in sorted(tally.negative.items()):
        table.add_row(f"  {reason}", str(count))
    table.add_row("dead-lettered", str(tally.statuses[Status.DEAD_LETTERED]))
    for classification, count in sorted(tally.dead.items()):
        table.add_row(f"  {classification}", str(count))
    table.add_row("[dim]retried (jobs / retries)[/]", f"[dim]{tally.retried_jobs} / {tally.retries}[/]")
    table.add_row("[bold]total[/]", f"[bold]{total}[/]")
    return table


def _summary(entry: DeadLetterEntry) -> str:
    who = f"customer {entry.kwargs['customer_id']}" if "customer_id" in entry.kwargs else entry.job
    text = f"{who}, {entry.attempts} attempt{'s' if entry.attempts != 1 else ''}: {entry.error_message}"
    return text if len(text) <= 60 else text[:59] + "…"


def _billing_example() -> dict[str, ModuleType]:
    """The billing example's modules."""
    return {"billing": billing, "enqueue": enqueue, "gateway": gateway, "reconcile": reconcile}


def _start_workers(url: str, home: Path, count: int) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_SETTINGS}
    env["REDIS_URL"] = url
    command = [sys.executable, "-m", "jobs.cli", "worker", "--import", "jobs.demo.billing"]
    processes = []
    for number in range(1, count + 1):
        with (home / f"worker-{number}.log").open("wb") as log:
            processes.append(
                subprocess.Popen([*command, "--queue", "billing"], cwd=home, env=env, stdout=log, stderr=log)
            )
    return processes


def _stop_workers(processes: Sequence[subprocess.Popen[bytes]], console: Console) -> None:
    """SIGTERM: each worker finishes what it is running and exits (a warm shutdown)."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(timeout=_STOP_WAIT_S))
        except subprocess.TimeoutExpired:
            process.kill()
            codes.append(process.wait())
    console.print(f"\nStopped the workers with SIGTERM (warm shutdown): exit codes {codes}")


def _kill(processes: Sequence[subprocess.Popen[Any]]) -> None:
    """After an error: no worker outlives the demo."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
