"""Real ``stalwart`` processes for integration tests (commands, long-running workers), and waiting for what
they do."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent  # this checkout
STALWART = [sys.executable, "-m", "jobs.cli"]
# Heartbeats every second, abandoned after 3 s without one (the defaults are 5 s and 15 s).
FAST_HEARTBEATS = {"STALWART_HEARTBEAT_INTERVAL_S": "1", "STALWART_HEARTBEAT_TTL_S": "3"}


def stalwart(
    *args: str, env: dict[str, str], timeout: float = 60, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """Run ``stalwart ARGS`` (from this checkout's directory unless ``cwd``) and wait for it; its output is
    captured as text."""
    return subprocess.run(
        [*STALWART, *args], check=False, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


class Workers:
    """Worker processes started by a test, each logging to a file in ``logs``; ``kill_all`` at its end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *options: str) -> subprocess.Popen[bytes]:
        """Start ``stalwart worker --import tests.sample_jobs`` with ``options`` (e.g. ``--in-process``)."""
        with self.log_of(len(self.started)).open("wb") as log:
            process = subprocess.Popen(
                [*STALWART, "worker", "--import", "tests.sample_jobs", *options],
                env=self.env,
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.started.append(process)
        return process

    def log_of(self, number: int) -> Path:
        """The log file of the ``number``-th worker started (from 0)."""
        return self.logs / f"worker-{number}.log"

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(10)


def wait_for(predicate: Callable[[], object], timeout_s: float = 30.0) -> None:
    """Poll ``predicate`` until it is true; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s: {predicate}")
        time.sleep(0.05)
