"""huey's instance (Redis, blocking dequeue, results stored: its defaults) and tasks, run by ``huey_consumer``."""

from __future__ import annotations

import os
import time

from huey import RedisHuey

from tests.benchmarks import marks

huey = RedisHuey("bench", url=os.environ["REDIS_URL"])


@huey.task()
def noop(n: int) -> int:
    marks.ended()
    return n


@huey.task()
def sleeps(n: int) -> int:
    marks.started()
    time.sleep(0.1)
    marks.ended()
    return n
