"""``stalwart demo``: a month of billing against a flaky payment gateway, proved against its ledger.

The story it tells is ``jobs.demo.STORY`` (``stalwart demo --help``). The phases
are in ``phases``, the tables in ``tables``, the live progress bar in
``progress``, the worker processes in ``workers``.
"""

from __future__ import annotations

import os
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
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 110  # a pipe or a CI log: wide enough for the tables
    home = Path(tempfile.mkdtemp(prefix="stalwart-demo-"))
    server = EmbeddedRedis(home)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        url = server.start()
        connection = connect(url)
        console.print(f"[bold]1.[/] Started an embedded Redis at {url}.\n    Its data is in {home}.")
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
