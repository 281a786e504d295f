"""The demo's story, phase by phase: set up, charge (with an outage), report, fix and replay, prove."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import redis
from rich.console import Console

from .. import stats
from ..dead_letter import DeadLetterQueue
from ..model.outcome import Status
from ..rq_adapter.enqueue import queue
from . import reconcile
from .billing import ChargeMonthlyFee, fee_for, reference_for
from .enqueue import enqueue_month
from .gateway import Faults, Gateway
from .progress import await_jobs
from .tables import Tally, dead_by_classification, dead_letter_lines, outcome_table, tally

MONTH = "2026-11"
FAULTS = Faults(refuse=0.04, timeout_before=0.02, timeout_after=0.03, garble=0.01, decline=0.06, seed="demo")
OUTAGE_AT = 0.85  # the share of jobs done when the gateway goes down


class Demo:
    """One run of the story on ``connection``, printing to ``console``; ``home`` holds the logs."""

    def __init__(self, connection: redis.Redis, console: Console, home: Path, charges: int) -> None:
        self.connection = connection
        self.console = console
        self.home = home
        self.customers = range(1, charges + 1)
        self.bad_amounts = frozenset({charges // 3, 2 * charges // 3})
        self.gateway = Gateway(connection)
        self.dlq = DeadLetterQueue(connection)
        self.job_ids: list[str] = []
        self.forged_id = ""
        self.marker = home / "forged-payload-ran"

    def set_up(self) -> None:
        """A flaky gateway, the month's charges (two with a bad amount), and a forged payload."""
        self.gateway.configure(FAULTS)
        # A sentence a line, each under 80 columns: a terminal never breaks one in the middle.
        bad = " and ".join(str(c) for c in sorted(self.bad_amounts))
        self.console.print(
            "[bold]2.[/] The payment gateway refuses 4% of calls and garbles 1% of its answers."
        )
        self._say(
            "It times out on 2% of calls before charging, and on 3% after charging.",
            "It declines 6% of cards.",
            f"Customers {bad} have a fee of 0 in their billing data.",
        )
        handles = enqueue_month(MONTH, self.customers, self.bad_amounts, self.connection)
        self.job_ids = [h.id for h in handles]
        forged = queue("billing", self.connection).enqueue_call(
            func="os.system", args=[f"touch {self.marker}"], description="forged"
        )
        self.forged_id = str(forged.id)
        self._say(f"Enqueued {len(handles)} charges for {MONTH}, and a forged payload naming os.system.", "")

    def run(self, processes: Sequence[subprocess.Popen[bytes]]) -> bool:
        """Every phase after the set-up, on the workers ``processes``; whether the proof holds."""
        first = self._charge(processes)
        final = self._replay(first, processes)
        return self._prove(final)

    def _charge(self, processes: Sequence[subprocess.Popen[bytes]]) -> Tally:
        """Run the month's charges, with an outage near the end; print how they ended and the dead letters."""
        stats_before = self._stats()
        outage_at = int(len(self.job_ids) * OUTAGE_AT)

        def outage(done: int) -> str | None:
            if done >= outage_at and not self.gateway.is_down():
                self.gateway.down("acquirer outage")
                return f"the gateway goes down ({done} of {len(self.job_ids)} jobs done): an outage"
            return None

        ids = [*self.job_ids, self.forged_id]
        self._await("charging", ids, processes, outage)
        # The forged payload is a job too: counted, as the dead-letter queue counts it, as poison.
        first = tally(self.connection, ids, stats_before, self._stats())
        charges = len(self.job_ids)
        self.console.print("\n[bold]3.[/] How the billing run ended:\n")
        self.console.print(outcome_table(first, len(ids), f"total ({charges} charges, 1 forged)"))
        ran = self.marker.exists()
        self._say(
            "The forged payload RAN: this is a bug."
            if ran
            else "The forged payload never ran: it was dead-lettered as poison.",
            "",
        )
        entries = self.dlq.list(status="dead")
        dead_charges = sum(1 for entry in entries if entry.id != self.forged_id)
        self.console.print(
            f"[bold]4.[/] The dead-letter queue: {len(entries)} entries "
            f"({dead_charges} charges and the forged payload).\n"
        )
        for shown in dead_letter_lines(entries, self.console.width):
            self.console.print(shown, no_wrap=True, crop=True)
        self.console.print()
        return first

    def _replay(self, first: Tally, processes: Sequence[subprocess.Popen[bytes]]) -> Tally:
        """Fix what can be fixed and replay the dead letters; print how every charge ended after them."""
        replays = self._fix_and_replay()
        stats_before = self._stats()
        self._await("replaying", replays, processes)
        replayed = tally(self.connection, replays, stats_before, self._stats())
        final = tally(self.connection, self._final_ids())
        final.retried_jobs, final.retries = first.retried_jobs, first.retries
        final.negative = first.negative + replayed.negative
        final.dead = dead_by_classification(self.dlq, self.job_ids)
        self.console.print("\n[bold]5.[/] How every charge ended, following the replays:\n")
        self.console.print(outcome_table(final, len(self.job_ids), f"total ({len(self.job_ids)} charges)"))
        by_status = Counter(entry.status for entry in self.dlq.list())
        shown = [
            f"{by_status[status]} {status}" + (" (the forged payload)" if status == "discarded" else "")
            for status in ("resolved", "replayed", "dead", "discarded")
            if by_status[status]
        ]
        self._say(f"Dead-letter queue: {', '.join(shown)}.", "Every entry keeps its audit trail.", "")
        return final

    def _say(self, *lines: str) -> None:
        """Lines of the story under a numbered step, indented (an empty one is a blank line)."""
        for line in lines:
            self.console.print(f"    {line}" if line else "")

    def _await(
        self,
        what: str,
        job_ids: list[str],
        processes: Sequence[subprocess.Popen[bytes]],
        on_progress: Callable[[int], str | None] | None = None,
    ) -> None:
        await_jobs(
            what,
            job_ids,
            connection=self.connection,
            console=self.console,
            processes=processes,
            home=self.home,
            on_progress=on_progress,
        )

    def _stats(self) -> dict[str, float]:
        return stats.read(self.connection, 3600).get(ChargeMonthlyFee.name, {})

    def _fix_and_replay(self) -> list[str]:
        """Bring the gateway back, fix the bad amounts, replay every charge; discard the forged payload."""
        self.console.print("[bold]4b.[/] The gateway is back, and the billing data is fixed.")
        self._say("Replaying from the dead-letter queue:")
        self.gateway.up()
        replays: list[str] = []
        for entry in self.dlq.list(status="dead", error_type="InvalidRequest"):
            fixed = {**entry.kwargs, "amount_cents": fee_for(int(entry.kwargs["customer_id"]))}
            replays.append(self.dlq.replay(entry.id, kwargs=fixed, by="demo"))
            customer = entry.kwargs["customer_id"]
            self.console.print(
                f"    replayed customer {customer}'s charge with amount_cents={fixed['amount_cents']}"
            )
        rest = self.dlq.replay_all(job=ChargeMonthlyFee.name, by="demo")
        replays += [entry.replays[-1] for entry in rest]
        self.console.print(f"    replayed the other {len(rest)} charges as they were (same idempotency keys)")
        self.dlq.discard(self.forged_id, reason="forged payload: nobody enqueues os.system", by="demo")
        self.console.print("    discarded the forged payload, with the reason in its audit trail\n")
        return replays

    def _final_ids(self) -> list[str]:
        """For each charge, the job that ended it: itself, or its last replay."""
        entries = {e.id: e for e in self.dlq.get_many(self.job_ids)}
        return [entries[i].replays[-1] if i in entries and entries[i].replays else i for i in self.job_ids]

    def _prove(self, final: Tally) -> bool:
        """The application's invoices against the gateway's ledger, printed; whether the proof holds."""
        result = reconcile.reconcile(MONTH, self.customers, self.connection)
        ledger = self.gateway.charges_per_customer(reference_for(MONTH))
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
