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
only if the proof holds. The phases are in ``phases``, the tables in
``tables``, the live progress bar in ``progress``, the worker processes in
``workers``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from rich.console import Console

from ..connection import EmbeddedRedis, connect
from ..telemetry import logs
from .phases import Demo
from .workers import kill_workers, start_workers, stop_workers


def run_demo(charges: int = 500, workers: int = 2) -> int:
    """Run the demonstration and print what happened; returns the exit code."""
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
            demo = Demo(connection, console, home, charges)
            demo.set_up()
            processes = start_workers(url, home, workers)
            console.print(
                f"    Started {workers} worker processes: pids {', '.join(str(p.pid) for p in processes)}\n"
            )
            ok = demo.run(processes)
            stop_workers(processes, console)
        return 0 if ok else 1
    finally:
        kill_workers(processes)
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
        console.print("\nStopped the embedded Redis and removed its data: nothing is left running.")
