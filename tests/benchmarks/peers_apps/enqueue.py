"""Enqueue N jobs for one peer framework: ``python -m tests.benchmarks.peers_apps.enqueue FRAMEWORK JOB N``.

FRAMEWORK is rq, dramatiq, celery or huey; JOB is noop or sleeps (the argument
is 0 to N-1). Each framework enqueues the way its users do; RQ in batches
(``enqueue_many``), as the time is not what is measured.
"""

from __future__ import annotations

import importlib
import os
import sys


def main() -> None:
    framework, job, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if framework == "rq":
        import redis
        import rq

        from tests.benchmarks.peers_apps import rq_jobs

        queue = rq.Queue("default", connection=redis.Redis.from_url(os.environ["REDIS_URL"]))
        function = getattr(rq_jobs, job)
        for start in range(0, count, 500):
            batch = range(start, min(count, start + 500))
            queue.enqueue_many([rq.Queue.prepare_data(function, (i,)) for i in batch])
        return
    app = importlib.import_module(f"tests.benchmarks.peers_apps.{framework}_app")
    task = getattr(app, job)
    for i in range(count):
        if framework == "dramatiq":
            task.send(i)
        elif framework == "celery":
            task.delay(i)
        else:
            task(i)


if __name__ == "__main__":
    main()
