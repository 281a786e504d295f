"""The rows of the peers benchmark: which framework, run how. Add or change a row here.

Each row's ``argv`` is one worker process's command line, started ``copies``
times at once, with ``{peers}`` standing for the peers' virtualenv's bin folder,
``{ours}`` for the project's, ``{url}`` for the Redis URL and ``{i}`` for the
copy's number. Every worker takes jobs from the queue ``default``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Framework = Literal["rq", "dramatiq", "celery", "huey", "stalwart"]
Section = Literal["single", "best", "io"]

TIMES = "\u00d7"  # the multiplication sign, as in "2 processes (times) 8 threads"

SECTIONS: dict[Section, str] = {
    "single": "one process, one thread",
    "best": "best configuration for 2 cores",
    "io": "I/O-bound jobs (each sleeps 0.1 s)",
}


@dataclass(frozen=True)
class Row:
    name: str
    section: Section
    framework: Framework
    argv: tuple[str, ...]
    copies: int = 1

    def command(self, peers: str, ours: str, url: str, i: int) -> list[str]:
        return [arg.format(peers=peers, ours=ours, url=url, i=i) for arg in self.argv]

    def flags(self) -> list[str]:
        """The options its command line uses (checked against ``stalwart worker --help``)."""
        return [arg for arg in self.argv if arg.startswith("--")]


# RQ's own CLI, with its scheduler as stalwart's worker always runs it, at RQ's default (INFO) logging.
_RQ = ("{peers}/rq", "worker", "--url", "{url}", "--with-scheduler")
_RQ_SIMPLE = (*_RQ, "--worker-class", "rq.worker.SimpleWorker", "default")
_DRAMATIQ = ("{peers}/dramatiq", "tests.benchmarks.peers_apps.dramatiq_app")
# Celery's defaults (prefetch 4, gossip, mingle, heartbeats, WARNING logs); a node name per process.
_CELERY = ("{peers}/celery", "-A", "tests.benchmarks.peers_apps.celery_app", "worker", "-n", "bench{i}@%h")
_HUEY = ("{peers}/huey_consumer", "tests.benchmarks.peers_apps.huey_app.huey")
# stalwart's CLI at its default (INFO) log level: a JSON line per job start and end, written to a file.
_STALWART = ("{ours}/stalwart", "worker", "--import", "tests.benchmarks.trivial", "--queue", "default")

THROUGHPUT: tuple[Row, ...] = (
    Row("RQ 3.0 SimpleWorker", "single", "rq", _RQ_SIMPLE),
    Row("RQ 3.0 forking Worker", "single", "rq", (*_RQ, "default")),
    Row(f"Dramatiq, 1 process {TIMES} 1 thread", "single", "dramatiq", (*_DRAMATIQ, "-p", "1", "-t", "1")),
    Row("Celery, solo pool", "single", "celery", (*_CELERY, "--pool", "solo")),
    Row("huey, 1 thread", "single", "huey", (*_HUEY, "-w", "1", "-k", "thread")),
    Row("stalwart in-process", "single", "stalwart", (*_STALWART, "--in-process")),
    Row("stalwart forking", "single", "stalwart", _STALWART),
    Row("stalwart --processes 1", "single", "stalwart", (*_STALWART, "--processes", "1")),
    Row("RQ 3.0, 2 SimpleWorkers", "best", "rq", _RQ_SIMPLE, copies=2),
    Row(f"Dramatiq 2 processes {TIMES} 8 threads", "best", "dramatiq", (*_DRAMATIQ, "-p", "2", "-t", "8")),
    Row("Celery, 2 solo processes", "best", "celery", (*_CELERY, "--pool", "solo"), copies=2),
    Row("huey 2 processes", "best", "huey", (*_HUEY, "-w", "2", "-k", "process")),
    Row("stalwart 2 in-process workers", "best", "stalwart", (*_STALWART, "--in-process"), copies=2),
    Row("stalwart --processes 2", "best", "stalwart", (*_STALWART, "--processes", "2")),
    Row(
        "stalwart --processes 2 --threads 8",
        "best",
        "stalwart",
        (*_STALWART, "--processes", "2", "--threads", "8"),
    ),
    Row("stalwart --threads 8", "best", "stalwart", (*_STALWART, "--threads", "8")),
)

IO: tuple[Row, ...] = (
    Row("stalwart --threads 50", "io", "stalwart", (*_STALWART, "--threads", "50")),
    Row(f"Dramatiq, 1 process {TIMES} 50 threads", "io", "dramatiq", (*_DRAMATIQ, "-p", "1", "-t", "50")),
)
