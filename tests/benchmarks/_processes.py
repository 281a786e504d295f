"""Long-lived worker processes for the benchmarks, started as a person starts them and stopped with SIGTERM.

Ours run ``stalwart worker`` and plain RQ's run ``rq worker``, both from the
virtualenv this Python belongs to, with the repository on PYTHONPATH so they
import the benchmark's jobs. Each process leads a session of its own, so the
cleanup can stop it with everything it started (work-horses, schedulers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import redis
import rq

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Sinks and exporters the caller's environment may name: a benchmark must not talk to them.
_UNSET = ("SENTRY_DSN", "STALWART_ALERT_COMMAND", "STATSD_HOST", "STATSD_PORT")


@dataclass
class WorkerProcess:
    """One running worker: what it is, the queue it takes jobs from, and where its logs go."""

    kind: str
    queue: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 1500) -> str:
        """The end of its log, for an error message."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else "(no log)"
        return text[-chars:].strip()


def _start(kind: str, queue: str, command: list[str], url: str, log_dir: Path) -> WorkerProcess:
    env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    env.update(REDIS_URL=url, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    log_path = log_dir / f"{queue}.log"
    log: IO[bytes]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return WorkerProcess(kind, queue, process, log_path)


def stalwart_worker(
    kind: str, queue: str, module: str, url: str, log_dir: Path, in_process: bool = False
) -> WorkerProcess:
    """``stalwart worker --import MODULE --queue QUEUE [--in-process]`` (it always runs RQ's scheduler)."""
    command = [str(BIN / "stalwart"), "worker", "--import", module, "--queue", queue]
    if in_process:
        command.append("--in-process")
    return _start(kind, queue, command, url, log_dir)


def rq_worker(
    kind: str, queue: str, url: str, log_dir: Path, simple: bool = False, with_scheduler: bool = False
) -> WorkerProcess:
    """``rq worker --url URL QUEUE``, with RQ's defaults (pickle, INFO logs), optionally SimpleWorker."""
    command = [str(BIN / "rq"), "worker", "--url", url]
    if simple:
        command += ["--worker-class", "rq.worker.SimpleWorker"]
    if with_scheduler:
        command.append("--with-scheduler")
    return _start(kind, queue, [*command, queue], url, log_dir)


def wait_registered(connection: redis.Redis, workers: list[WorkerProcess], timeout_s: float = 30.0) -> None:
    """Return once every worker has registered itself in Redis as listening on its queue."""
    deadline = time.monotonic() + timeout_s
    waiting = list(workers)
    while waiting:
        for worker in list(waiting):
            if worker.process.poll() is not None:
                raise RuntimeError(
                    f"{worker.kind} worker exited with {worker.process.returncode} before it was ready:\n"
                    f"{worker.log_tail()}"
                )
            queue = rq.Queue(worker.queue, connection=connection)
            if rq.Worker.count(queue=queue) > 0:
                waiting.remove(worker)
        if waiting and time.monotonic() > deadline:
            names = ", ".join(w.kind for w in waiting)
            raise TimeoutError(f"workers not registered after {timeout_s:.0f} s: {names}")
        time.sleep(0.05)


def _exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether it has exited, without reaping it: its pid, and so its session's id, stay reserved."""
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def stop(workers: list[WorkerProcess], timeout_s: float = 20.0) -> None:
    """SIGTERM (warm shutdown) to each, wait for all to exit, then SIGKILL whatever is left of their sessions.

    Workers already stopped (reaped) are left alone, so calling it twice is safe.
    """
    running = [w for w in workers if w.process.returncode is None]
    for worker in running:
        with contextlib.suppress(ProcessLookupError):
            worker.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while not all(_exited(w.process) for w in running) and time.monotonic() < deadline:
        time.sleep(0.05)
    for worker in running:
        if not _exited(worker.process):
            print(f"{worker.kind} worker did not stop within {timeout_s:.0f} s; killing it", file=sys.stderr)
        # Not reaped yet, so the session id is still this worker's: this reaches only what it started.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait()
