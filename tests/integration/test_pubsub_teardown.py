"""Leaving RQ's pub/sub channel: only RQ's pub/sub thread closes its connection, never two threads at once.

RQ's own ``unsubscribe`` closed the pub/sub from the worker's thread once a 1 s wait for the pub/sub thread
ran out, while that thread could be closing it too; redis-py's ``PubSub.reset`` is not safe for that, and a
worker on a loaded machine died with ``AttributeError: 'NoneType' object has no attribute
'deregister_connect_callback'`` as it stopped. These tests hold the pub/sub thread still (in its message
handler) so the overlap happens every time, not once in a hundred runs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rq.queue import Queue
from rq.serializers import JSONSerializer

from jobs.rq_adapter.job_format import SafeRQJob
from jobs.runtime.rq_worker import InProcessWorker


class HeldWorker(InProcessWorker):
    """A worker whose pub/sub message handler waits until the test lets it go."""

    # Leaving pub/sub waits this long for the thread; the test holds the thread longer.
    pubsub_join_s = 0.2

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handling = threading.Event()
        self.release = threading.Event()

    def handle_payload(self, message: dict[str, Any]) -> None:
        self.handling.set()
        self.release.wait(timeout=30)


@pytest.fixture
def worker(connection: redis.Redis) -> Iterator[HeldWorker]:
    held = HeldWorker(
        [Queue("pubsub-teardown", connection=connection)],
        connection=connection,
        serializer=JSONSerializer,
        job_class=SafeRQJob,
        disable_default_exception_handler=True,
    )
    yield held
    held.release.set()


def test_leaving_pub_sub_stops_the_thread_which_closes_its_own_connection(worker: HeldWorker) -> None:
    # Given a worker listening on its pub/sub channel
    worker.subscribe()
    thread = worker.pubsub_thread
    assert thread is not None and thread.is_alive()

    # When it leaves the channel
    worker.unsubscribe()

    # Then the thread has ended (Redis's reply to UNSUBSCRIBE woke it after it was told to stop), and the
    # pub/sub connection went back to the pool
    assert not thread.is_alive()
    assert worker.pubsub.connection is None


def test_a_pub_sub_thread_still_busy_is_left_to_close_its_connection_itself(
    worker: HeldWorker, connection: redis.Redis
) -> None:
    # Given a worker whose pub/sub thread is busy with a message, past the time leaving waits for it
    worker.subscribe()
    thread = worker.pubsub_thread
    assert thread is not None
    connection.publish(worker.pubsub_channel_name, json.dumps({"command": "ping"}))
    assert worker.handling.wait(timeout=30)

    # When the worker leaves the channel
    worker.unsubscribe()

    # Then it does not close the pub/sub under the thread: the connection is still the thread's
    assert thread.is_alive()
    assert worker.pubsub.connection is not None

    # And once the thread is done with its message, it ends and closes the connection itself
    worker.release.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert worker.pubsub.connection is None
