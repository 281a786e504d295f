"""Dramatiq's broker (Redis, default middleware) and actors, run by ``dramatiq tests.benchmarks.peers_apps.dramatiq_app``."""

from __future__ import annotations

import os
import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from tests.benchmarks import marks

broker = RedisBroker(url=os.environ["REDIS_URL"])
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="default")
def noop(n: int) -> int:
    marks.ended()
    return n


@dramatiq.actor(queue_name="default")
def sleeps(n: int) -> int:
    marks.started()
    time.sleep(0.1)
    marks.ended()
    return n
