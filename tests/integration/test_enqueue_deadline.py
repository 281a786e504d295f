"""``Job.enqueue`` keeps one deadline (STALWART_ENQUEUE_DEADLINE_S) whatever the client, and says what it
knows when it gives up; its fast path opens no connection per call.

``tests/hardening/test_redis_trouble.py`` covers a server that never answers with the default
deadline; these cover a caller's client with its own long timeouts and retries, a shorter deadline,
a server that stops answering once the job was sent, and the connections a burst of enqueues opens.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from jobs import EnqueueError
from tests.sample_jobs import Add
from tests.workers import stalwart


class FakeRedis(threading.Thread):
    """A TCP server speaking just enough RESP: ``+OK`` to most, ``:0`` to EXISTS, and silence for
    good from the first EVALSHA on (the script that enqueues a job was sent; its answer never comes).
    With ``silent``, it never answers anything."""

    def __init__(self, silent: bool = False) -> None:
        super().__init__(daemon=True)
        self.silent = silent
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.2)
        self.port = int(self.listener.getsockname()[1])
        self.stopping = threading.Event()
        self.commands: list[bytes] = []
        self.held: list[socket.socket] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.held.append(conn)
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket) -> None:
        buffer = b""
        conn.settimeout(0.2)
        while not self.stopping.is_set():
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while (command := _one_command(buffer)) is not None:
                name, buffer = command
                self.commands.append(name)
                if self.silent or b"EVALSHA" in self.commands:
                    continue
                conn.sendall(_REPLIES.get(name, b"+OK\r\n"))

    def stop(self) -> None:
        self.stopping.set()
        self.join(5)
        self.listener.close()
        for conn in self.held:
            conn.close()


# HELLO: RESP3 is spoken (a map holding just the protocol is all redis-py reads).
_REPLIES = {b"EXISTS": b":0\r\n", b"HELLO": b"%1\r\n$5\r\nproto\r\n:3\r\n"}


def _one_command(buffer: bytes) -> tuple[bytes, bytes] | None:
    """The name of the first whole RESP command in ``buffer`` and what follows it, or None."""
    if not buffer.startswith(b"*") or b"\r\n" not in buffer:
        return None
    head, rest = buffer.split(b"\r\n", 1)
    args = []
    for _ in range(int(head[1:])):
        if b"\r\n" not in rest:
            return None
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line[1:])
        if len(rest) < size + 2:
            return None
        args.append(rest[:size])
        rest = rest[size + 2 :]
    return args[0].upper(), rest


@pytest.fixture
def fake_redis() -> Iterator[FakeRedis]:
    server = FakeRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def silent_redis() -> Iterator[FakeRedis]:
    server = FakeRedis(silent=True)
    server.start()
    yield server
    server.stop()


def test_a_callers_client_with_long_timeouts_and_many_retries_still_gives_up_at_the_deadline(
    silent_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deadline of 1 s, and the caller's own client: 30 s timeouts, 20 retries
    monkeypatch.setenv("STALWART_ENQUEUE_DEADLINE_S", "1")
    patient = redis.Redis(
        port=silent_redis.port,
        socket_timeout=30,
        socket_connect_timeout=30,
        retry=Retry(ExponentialBackoff(), 20),
    )

    # When a job is enqueued on a server that never answers
    began = time.monotonic()
    with pytest.raises(EnqueueError) as caught:
        Add.enqueue(connection=patient, a=1, b=2)

    # Then it gives up saying so (a liveness bound ten times the deadline, not a measurement), and the
    # caller's client is as it was
    assert time.monotonic() - began < 10
    # (The server took the connection and the job's one write, then never answered: the job may be there.)
    assert "Redis did not answer within 1 s (" in str(caught.value)
    assert str(caught.value).endswith("look that job up (JobHandle) before enqueueing again")
    assert patient.get_connection_kwargs()["socket_timeout"] == 30


def test_when_the_job_may_have_reached_redis_the_error_says_so_and_names_the_job_to_look_up(
    fake_redis: FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a server that never answers the script that enqueues the job (it may have run it), and says
    # the job does not exist when asked again
    monkeypatch.setenv("STALWART_ENQUEUE_DEADLINE_S", "1")

    with pytest.raises(EnqueueError) as caught:
        Add.enqueue(connection=redis.Redis(port=fake_redis.port), a=1, b=2)

    # Then the error does not claim that nothing was enqueued: it names the job id to look up
    message = str(caught.value)
    assert b"EVALSHA" in fake_redis.commands
    assert "the last attempt may have reached Redis as job " in message
    assert message.endswith("look that job up (JobHandle) before enqueueing again")
    assert "nothing was enqueued" not in message


def test_enqueues_through_redis_url_reuse_their_connections(connection: redis.Redis) -> None:
    # Given the connections Redis has now
    Add.enqueue(a=0, b=0)  # the first makes the process's client and its bounded twin
    before = int(connection.info("clients")["connected_clients"])

    # When fifty jobs are enqueued through REDIS_URL (no connection given)
    handles = [Add.enqueue(a=n, b=n) for n in range(50)]

    # Then they are all there, and no connection was opened for them
    assert connection.llen("rq:queue:default") == 51
    assert len({h.id for h in handles}) == 50
    assert int(connection.info("clients")["connected_clients"]) <= before


def test_the_cli_on_a_redis_that_never_answers_says_so_in_one_line(
    silent_redis: FakeRedis, subprocess_env: dict[str, str]
) -> None:
    # connect() checks Redis with a PING; through the client's own retries, a silent server kept it
    # waiting about a minute. Now it waits CONNECT_DEADLINE_S (5 s) in all.
    env = {**subprocess_env, "REDIS_URL": f"redis://127.0.0.1:{silent_redis.port}/0"}

    run = stalwart("dlq", "list", env=env, timeout=20)  # a liveness bound: four times the deadline

    assert run.returncode == 1
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"stalwart: Redis at redis://127.0.0.1:{silent_redis.port}/0 does not answer (")
