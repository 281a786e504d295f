"""``WorkerPool``: a pre-forked pool of worker processes, each running many jobs.

A forking worker pays a ``fork()`` for every job (about 18 ms on a small VM);
an in-process worker isolates nothing. A pool forks ``processes`` workers once,
after the application's modules are imported (the children share those pages),
and each runs jobs on stalwart's own loop (``engine.py``), in ``threads``
threads. The parent runs no job: it watches its children.

- A child that dies (killed, out of memory, a segfault in a C extension) takes
  down only the jobs it was running: the parent settles them at once through
  the abandoned path (``reaper.settle``: a death, counted toward the job's kill
  limit, so a job that kills its process repeatedly becomes poison), and starts
  another child in its place. A child that keeps dying at start (an import
  that fails, Redis refusing it) is restarted after a back-off, 1 s doubling to
  30 s, not in a tight loop.
- With ``max_jobs_per_child``, a child stops taking jobs after that many
  attempts, finishes them, and exits; a fresh one replaces it, so a job that
  leaks memory cannot grow a process for ever.
- SIGTERM or SIGINT to the parent is passed on to every child once (a warm
  stop: each finishes its running jobs); a second one, a second or more
  later, is passed on again (a cold stop: their running jobs are settled as
  abandoned). The children have a process group of their own, so a terminal's
  Ctrl-C reaches the parent only; a stop sent to the whole control group
  (systemd's default) reaches each child twice within the second, which counts
  as one. Killed outright, the parent takes its children with it (Linux's
  parent-death signal): their jobs are then settled by another worker's reaper.
- Only the first child relays the outbox (``outbox``), if asked to: one relay
  per pool is enough.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import redis
from rq.worker_registration import get_keys

from ..connection.outage import describe, is_outage
from ..settings import Settings
from ..telemetry.sinks import Sink
from .announce import RECYCLED
from .process import die_with_parent
from .reaper import settle
from .stopping import COLD_AFTER_S
from .worker import Worker

log = logging.getLogger("stalwart.worker")

# A child's exit status when it ran its share of jobs; any other status from a child not asked to stop
# is a death.
RECYCLE_EXIT = 3
_QUICK_DEATH_S = 1.0
_MAX_BACKOFF_S = 30.0


@dataclass
class _Child:
    slot: int
    pid: int
    started: float


class WorkerPool:
    """Keeps ``processes`` worker processes running jobs from ``queues``, each in ``threads`` threads."""

    def __init__(
        self,
        queues: Sequence[str],
        *,
        processes: int,
        connection: redis.Redis,
        threads: int = 1,
        max_jobs_per_child: int | None = None,
        sinks: Sequence[Sink] | None = None,
        settings: Settings | None = None,
        outbox: str | None = None,
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, got {processes}")
        if max_jobs_per_child is not None and max_jobs_per_child < 1:
            raise ValueError(f"max_jobs_per_child must be at least 1, got {max_jobs_per_child}")
        self.queues = list(queues)
        self.processes = processes
        self.connection = connection
        self.threads = threads
        self.max_jobs_per_child = max_jobs_per_child
        self.sinks = sinks
        self.settings = settings
        self.outbox = outbox
        # Names this pool's children as RQ workers (``<pool>.<pid>``), so a dead child's jobs can be found.
        self.name = uuid.uuid4().hex[:12]
        self.children: dict[int, _Child] = {}
        self.signals: list[int] = []
        self._first_stop: float | None = None
        self.replaced = 0
        self.died = 0

    def work(self, burst: bool = False) -> None:
        """Start the children and keep them running until stopped (or, with ``burst``, until each has
        drained its queues and exited)."""
        replaced = self._install_signal_handlers()
        log.info(
            "worker pool started: %d processes of %d thread%s, queues %s; pid %d",
            self.processes,
            self.threads,
            "" if self.threads == 1 else "s",
            ", ".join(self.queues),
            os.getpid(),
        )
        backoff = {slot: 1.0 for slot in range(self.processes)}
        try:
            for slot in range(self.processes):
                self._spawn(slot, burst)
            while self.children:
                pid, status = _wait_any()
                child = self.children.pop(pid, None)
                if child is None:
                    continue
                self._ended(child, status, burst, backoff)
        finally:
            for number, handler in replaced.items():
                signal.signal(number, handler)
            log.info(
                "worker pool stopped: %s; %d processes replaced after their share of jobs, %d died",
                self._why(burst),
                self.replaced,
                self.died,
            )

    def _why(self, burst: bool) -> str:
        if self.signals:
            return signal.Signals(self.signals[0]).name
        return "every process drained its queues" if burst else "its processes ended"

    def _ended(self, child: _Child, status: int, burst: bool, backoff: dict[int, float]) -> None:
        """A child exited: replace it if it ran its share, settle its jobs and replace it if it died."""
        code = os.waitstatus_to_exitcode(status)
        if self.signals:
            if code != 0:
                self._died(child, code, restart=False)
            return
        if code == RECYCLE_EXIT:
            self.replaced += 1
            log.info("worker process %d %s", child.pid, RECYCLED)
            self._spawn(child.slot, burst)
            return
        if code == 0 and burst:
            return
        self._died(child, code, restart=True)
        lived = time.monotonic() - child.started
        if lived < _QUICK_DEATH_S:
            wait_s = backoff[child.slot]
            backoff[child.slot] = min(wait_s * 2, _MAX_BACKOFF_S)
            log.warning(
                "worker process %d died within %.1f s of starting; waiting %.0f s", child.pid, lived, wait_s
            )
            if self._stopped_during(wait_s):
                return
        else:
            backoff[child.slot] = 1.0
        self._spawn(child.slot, burst)

    def _died(self, child: _Child, code: int, restart: bool) -> None:
        self.died += 1
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        settled = self._settle_jobs_of(child.pid, f"its worker process {how}")
        log.error(
            "worker process %d %s; %s%s",
            child.pid,
            how,
            f"the {len(settled)} job(s) it was running were settled as abandoned ({', '.join(settled)})"
            if settled
            else "it was running no job",
            "; starting another in its place" if restart else "",
        )

    def _settle_jobs_of(self, pid: int, reason: str) -> list[str]:
        """Settle the attempts a dead child was running, as deaths; the job ids settled."""
        settled: list[str] = []
        prefix = f"{self.name}.{pid}"
        try:
            workers = [key for key in get_keys(connection=self.connection) if _named(key, prefix)]
            for worker in workers:
                for member in self.connection.smembers(f"{worker}:executions"):
                    text = member.decode() if isinstance(member, bytes) else str(member)
                    job_id, _, execution_id = text.partition(":")
                    if settle(self.connection, job_id, reason, execution_id=execution_id, died=True):
                        settled.append(job_id)
        except redis.RedisError as err:
            if not is_outage(err):
                raise
            log.error(
                "could not settle the jobs of dead worker process %d (%s); a reaper settles them once their "
                "heartbeats lapse",
                pid,
                describe(err),
            )
        return settled

    def _spawn(self, slot: int, burst: bool) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = self._child(slot, parent, burst)
            except BaseException:
                log.exception("worker process %d stopped on an error", os.getpid())
            finally:
                os._exit(code)
        self.children[pid] = _Child(slot, pid, time.monotonic())

    def _child(self, slot: int, parent: int, burst: bool) -> int:
        """The child's life: one worker, in-process, on its own loop; its exit status."""
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, signal.SIG_DFL)
        os.setpgid(0, 0)
        die_with_parent(parent)
        worker = Worker(
            self.queues,
            connection=self.connection,
            mode="inprocess",
            threads=self.threads,
            sinks=self.sinks,
            settings=self.settings,
            outbox=self.outbox if slot == 0 else None,
            name=f"{self.name}.{os.getpid()}",
        )
        worker.work(burst=burst, max_jobs=self.max_jobs_per_child)
        return RECYCLE_EXIT if worker.stopped_because == RECYCLED else 0

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {number: signal.signal(number, self._on_signal) for number in (signal.SIGTERM, signal.SIGINT)}

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        at = time.monotonic()
        if self._first_stop is not None and at - self._first_stop < COLD_AFTER_S:
            return
        self._first_stop = self._first_stop or at
        self.signals.append(number)
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                log.debug("worker process %d had already exited", pid)

    def _stopped_during(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.signals:
            time.sleep(min(0.1, max(deadline - time.monotonic(), 0)))
        return bool(self.signals)


def _named(key: bytes | str, prefix: str) -> bool:
    """Whether RQ's worker key ``key`` names a worker of the pool child ``prefix`` (any of its loops)."""
    name = (key.decode() if isinstance(key, bytes) else key).removeprefix("rq:worker:")
    return name == prefix or name.startswith(prefix + ".")


def _wait_any() -> tuple[int, int]:
    """The next child to exit, and its wait status (signals are handled meanwhile)."""
    return os.waitpid(-1, 0)
