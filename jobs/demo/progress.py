"""Waiting for a phase's jobs to end, with a live progress bar; a dead worker or a deadline stops the wait."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import ConfigurationError
from ..model.outcome import Status
from ..rq_adapter.handle import statuses
from .workers import log_of

FINAL = frozenset({Status.SUCCEEDED, Status.NEGATIVE, Status.DEAD_LETTERED})
PHASE_DEADLINE_S = 180.0
_POLL_S = 0.2


def await_jobs(
    what: str,
    job_ids: list[str],
    *,
    connection: redis.Redis,
    console: Console,
    processes: Sequence[subprocess.Popen[bytes]],
    home: Path,
    on_progress: Callable[[int], str | None] | None = None,
) -> None:
    """Show a progress bar until every job in ``job_ids`` has ended.

    ``on_progress(done)`` runs at every poll; the news it returns, if any, is printed above the bar.
    Raises ConfigurationError, naming the log to read, if a worker exits or the phase takes too long.
    """
    # The bar takes what the words leave: at 80 columns it is short, but the counts are all there.
    columns = (
        TextColumn(f"    {what}"),
        BarColumn(bar_width=None),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    deadline = time.monotonic() + PHASE_DEADLINE_S
    with Progress(*columns, console=console, transient=False, expand=True) as progress:
        task = progress.add_task(what, total=len(job_ids), detail="")
        while True:
            now = Counter(statuses(connection, job_ids))
            done = sum(now[s] for s in FINAL)
            detail = (
                f"{now[Status.SUCCEEDED]} ok · {now[Status.NEGATIVE]} declined · "
                f"{now[Status.SCHEDULED]} to retry · {now[Status.DEAD_LETTERED]} dead"
            )
            progress.update(task, completed=done, detail=detail)
            if on_progress is not None and (news := on_progress(done)) is not None:
                progress.console.print(f"    [bold red]{news}[/]")
            if done == len(job_ids):
                return
            _check(processes, home, len(job_ids) - done, deadline)
            time.sleep(_POLL_S)


def _check(processes: Sequence[subprocess.Popen[bytes]], home: Path, left: int, deadline: float) -> None:
    """ConfigurationError if a worker exited or the deadline passed: waiting on would be in vain."""
    for number, process in enumerate(processes, start=1):
        if process.poll() is not None:
            raise ConfigurationError(
                f"worker {process.pid} exited with code {process.returncode}; "
                f"see its log, {log_of(home, number)}"
            )
    if time.monotonic() > deadline:
        raise ConfigurationError(
            f"{left} jobs had not ended after {PHASE_DEADLINE_S:.0f} s; see the worker logs in {home}"
        )
