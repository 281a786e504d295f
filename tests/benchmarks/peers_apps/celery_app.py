"""Celery's app (Redis broker, Celery's defaults: no result backend) and tasks, run by ``celery -A ... worker``."""

from __future__ import annotations

import os
import time

from celery import Celery

from tests.benchmarks import marks

app = Celery("bench", broker=os.environ["REDIS_URL"])
# Only silences Celery 5's deprecation warning at start-up; the behaviour is the default one.
app.conf.broker_connection_retry_on_startup = True


@app.task(name="bench.noop")
def noop(n: int) -> int:
    marks.ended()
    return n


@app.task(name="bench.sleeps")
def sleeps(n: int) -> int:
    marks.started()
    time.sleep(0.1)
    marks.ended()
    return n
