"""``stalwart enqueue``: one job, by its registered name, now, in a while or at a time.

The job goes through ``Job.enqueue``/``enqueue_in``/``enqueue_at``, so its arguments get the same
checks (a bad one is a one-line error, and nothing is enqueued) and Redis is found the same way.
"""

from __future__ import annotations

import argparse
import json

from ..errors import ConfigurationError
from ..job import Job
from ..model.definition import REGISTRY
from ..model.schedule import iso
from ..rq_adapter.handle import JobHandle
from .modules import import_job_modules
from .render import visible


def cmd_enqueue(args: argparse.Namespace) -> int:
    import_job_modules(args.imports)
    job = REGISTRY.resolve(args.job)
    if not issubclass(job, Job):  # (every registered class is, unless built on JobDefinition itself)
        raise ConfigurationError(f"{args.job} is not a jobs.Job subclass; enqueue it from Python")
    kwargs = dict(args.arguments)
    if args.delay is not None:
        handle = job.enqueue_in(args.delay, **kwargs)
    elif args.at is not None:
        handle = job.enqueue_at(args.at, **kwargs)
    else:
        handle = job.enqueue(**kwargs)
    if args.json:
        print(json.dumps(_as_json(handle, job.queue)))
    else:
        print(visible(_sentence(handle, job.queue)))
    return 0


def _as_json(handle: JobHandle, queue: str) -> dict[str, object]:
    return {
        "id": handle.id,
        "job": handle.job,
        "queue": queue,
        "status": str(handle.status()),
        "due_at": None if handle.due_at is None else iso(handle.due_at),
        "deduplicated": handle.deduplicated,
    }


def _sentence(handle: JobHandle, queue: str) -> str:
    if handle.deduplicated:
        return (
            f"{handle.job} is unique and already {handle.status()} as job {handle.id}; nothing was enqueued"
        )
    when = f", due {iso(handle.due_at)}" if handle.due_at is not None else ""
    return f"enqueued {handle.job} as job {handle.id} on queue {queue}{when}"
