"""The demo's worker processes: real ``stalwart worker`` subprocesses on its embedded Redis, stopped warm."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

STOP_WAIT_S = 20.0
# Workers read these; the demo uses no service but its own Redis.
_FOREIGN_SETTINGS = ("SENTRY_DSN", "STALWART_ALERT_COMMAND", "STATSD_HOST", "REDIS_URL")


def start_workers(url: str, home: Path, count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` workers on the billing queue, importing the demo's jobs; each logs to ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_SETTINGS}
    env["REDIS_URL"] = url
    command = [
        sys.executable,
        "-m",
        "jobs.cli",
        "worker",
        "--import",
        "jobs.demo.billing",
        "--queue",
        "billing",
    ]
    processes = []
    for number in range(1, count + 1):
        with log_of(home, number).open("wb") as log:
            processes.append(subprocess.Popen(command, cwd=home, env=env, stdout=log, stderr=log))
    return processes


def log_of(home: Path, number: int) -> Path:
    """The log file of the ``number``-th worker (from 1)."""
    return home / f"worker-{number}.log"


def stop_workers(processes: Sequence[subprocess.Popen[bytes]], console: Console) -> None:
    """SIGTERM: each worker finishes what it is running and exits (a warm shutdown)."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    codes = []
    for process in processes:
        try:
            codes.append(process.wait(timeout=STOP_WAIT_S))
        except subprocess.TimeoutExpired:
            process.kill()
            codes.append(process.wait())
    console.print(f"\nStopped the workers with SIGTERM (warm shutdown): exit codes {codes}")


def kill_workers(processes: Sequence[subprocess.Popen[Any]]) -> None:
    """After an error: no worker outlives the demo."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
