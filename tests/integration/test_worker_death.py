"""Workers killed mid-job, with real worker processes and a real Redis.

The heartbeat settings are shortened here (1 s interval, 3 s TTL) so the tests
run in seconds; with the defaults (5 s, 15 s) a dead worker's job is settled
within 20 s.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import redis

from jobs import Classification, DeadLetterQueue, Status, Worker
from tests.sample_jobs import (
    BlocksUntilReleased,
    BlocksUntilReleasedIdempotently,
    KillsItsWorkHorseEveryTime,
    WaitsForKey,
)
from tests.workers import Workers, wait_for


def children_of(parent: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == parent:
            found.add(int(stat.parent.name))
    return found


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


@pytest.mark.parametrize(
    ("job", "expected"),
    [(BlocksUntilReleased, Status.DEAD_LETTERED), (BlocksUntilReleasedIdempotently, Status.SUCCEEDED)],
)
def test_a_worker_killed_mid_job_is_settled_by_a_surviving_worker(
    connection: redis.Redis,
    workers: Workers,
    tmp_path: Path,
    job: type[BlocksUntilReleased],
    expected: Status,
) -> None:
    # Given a worker running a job
    marker, release = tmp_path / "started", tmp_path / "release"
    doomed = workers.start()
    handle = job.enqueue(connection=connection, path=str(marker), release=str(release))
    wait_for(marker.exists)
    horse = int(marker.read_text())
    children = children_of(doomed.pid)
    assert children == {horse}  # the work-horse (the scheduler is a thread of the worker's)

    # When that worker is SIGKILLed mid-job, and another worker is running
    doomed.kill()
    doomed.wait(10)
    release.touch()  # from here on, a run of the job would finish at once
    workers.start()

    # Then its work-horse died with it, and the surviving worker settles the job
    wait_for(lambda: all(gone(pid) for pid in children))
    status = handle.wait(timeout_s=30)
    if status is not expected and DeadLetterQueue(connection).exists(handle.id):
        raise AssertionError(DeadLetterQueue(connection).get(handle.id).message)
    assert status is expected
    attempts = json.loads(connection.hget(f"rq:job:{handle.id}", "stalwart_history") or "[]")
    assert attempts[0]["outcome"] == "abandoned"
    assert attempts[0]["error_message"] == "its worker stopped sending heartbeats for over 3 s"
    if expected is Status.DEAD_LETTERED:
        entry = DeadLetterQueue(connection).get(handle.id)
        assert entry.classification is Classification.ABANDONED
        assert entry.message.endswith("verify its side effect before replaying it.")
    else:
        assert handle.result() == "released"
        assert connection.hget(f"rq:job:{handle.id}", "stalwart_attempt") == b"2"


def test_a_job_that_keeps_killing_its_worker_is_quarantined_as_poison(
    connection: redis.Redis, tmp_path: Path
) -> None:
    starts = tmp_path / "starts"
    handle = KillsItsWorkHorseEveryTime.enqueue(connection=connection, path=str(starts))

    Worker(["default"], connection=connection, mode="fork").work(burst=True)

    assert starts.read_text() == "started\n" * 3
    assert handle.status() is Status.DEAD_LETTERED
    entry = DeadLetterQueue(connection).get(handle.id)
    assert entry.classification is Classification.POISON
    assert [a["outcome"] for a in entry.history] == ["abandoned", "abandoned", "poison"]
    assert "has taken its worker down 3 times" in entry.message


def test_sigterm_lets_the_current_job_finish_before_the_worker_exits(
    connection: redis.Redis, workers: Workers, tmp_path: Path
) -> None:
    marker, release = tmp_path / "started", tmp_path / "release"
    worker = workers.start()
    handle = BlocksUntilReleased.enqueue(connection=connection, path=str(marker), release=str(release))
    wait_for(marker.exists)

    worker.send_signal(signal.SIGTERM)  # warm shutdown: finish the job, take no other
    later = BlocksUntilReleased.enqueue(
        connection=connection, path=str(tmp_path / "later"), release=str(release)
    )
    release.touch()

    assert worker.wait(30) == 0
    assert (handle.status(), later.status()) == (Status.SUCCEEDED, Status.QUEUED)


def test_a_second_sigterm_stops_the_worker_at_once_and_its_job_is_settled_as_abandoned(
    connection: redis.Redis, workers: Workers
) -> None:
    # Given a worker in the middle of a job
    doomed = workers.start()
    handle = WaitsForKey.enqueue(connection=connection, key="cold:release")
    wait_for(lambda: connection.exists("cold:release:started"))
    horse = int(connection.get("cold:release:started") or 0)

    # When it is sent SIGTERM, and SIGTERM again: a cold shutdown. RQ ignores a second signal that comes
    # within 1 s of the first, so this waits that long; there is no event to wait for instead.
    doomed.send_signal(signal.SIGTERM)
    time.sleep(1.5)
    doomed.send_signal(signal.SIGTERM)

    # Then it exits without waiting for the job, its work-horse killed, and another worker settles the job
    assert doomed.wait(30) == 0
    assert gone(horse)
    workers.start()
    assert handle.wait(timeout_s=30) is Status.DEAD_LETTERED
    entry = DeadLetterQueue(connection).get(handle.id)
    assert entry.classification is Classification.ABANDONED
    assert [a["outcome"] for a in entry.history] == ["abandoned"]
    assert entry.history[0]["error_message"] == "its worker stopped sending heartbeats for over 3 s"
    assert connection.get("cold:release:runs") == b"1"


def test_a_sigterm_that_reaches_the_work_horse_too_abandons_its_job(
    connection: redis.Redis, workers: Workers
) -> None:
    # Given a forking worker in the middle of a job (its work-horse is in a process group of its own,
    # so a signal to the worker's group misses it; systemd's default KillMode=control-group does not)
    worker = workers.start()
    handle = WaitsForKey.enqueue(connection=connection, key="cgroup:release")
    wait_for(lambda: connection.exists("cgroup:release:started"))
    horse = int(connection.get("cgroup:release:started") or 0)

    # When SIGTERM reaches the worker and its work-horse at once, as a stop signal to a whole cgroup does
    worker.send_signal(signal.SIGTERM)
    os.kill(horse, signal.SIGTERM)

    # Then the job is cut off and dead-lettered as abandoned (so deploy with KillMode=mixed)
    assert handle.wait(timeout_s=30) is Status.DEAD_LETTERED
    entry = DeadLetterQueue(connection).get(handle.id)
    assert entry.classification is Classification.ABANDONED
    # (RQ's detail after this varies: the worker's own SIGTERM can interrupt its waitpid)
    assert "was abandoned mid-job: Work-horse terminated unexpectedly" in entry.message
    assert worker.wait(30) == 0
