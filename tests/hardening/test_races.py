"""Races and states (issue 11): two actors changing one job or one dead-letter entry at once.

- Replays and discards of one entry race: each reads the entry, checks its status, then writes, so two
  of them both pass the check.
- A worker stalled longer than the heartbeat TTL is settled as abandoned by another worker, then finishes
  its attempt anyway: two final states for one job.
- Redis outages are taken for dead workers: a job whose end a Redis restart swallowed is settled as
  abandoned and counted as a kill (poison after the kill limit); a forking worker that loses Redis mid-job
  stops watching its work-horse, and the job is dead-lettered while the horse still runs it.

Redis keys and job-hash fields named here as literal strings (the modules that define them are being
moved): ``rq:queue:<name>`` (RQ's queue list), ``rq:job:<id>`` and its field ``stalwart_kills`` (how many
times the job was settled as abandoned), ``rq:wip:<queue>`` (RQ's started-job registry, scored by the
heartbeat deadline), ``stalwart:alerts:outbox`` (alerts waiting for their sinks) and
``hardening:runs:<key>`` (the run counters of the jobs in races_jobs.py).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import cast

import redis

from jobs import DeadLetterEntry, DeadLetterError, DeadLetterQueue, JobHandle, Status, Worker
from jobs.dead_letter.replay import replay_all
from tests.conftest import REPO
from tests.hardening.outage_run import outage_run
from tests.hardening.races_jobs import (
    RACES_QUEUE,
    BlocksUntilReleased,
    BlocksUntilReleasedIdempotently,
    FailsOnceThenCounts,
)
from tests.workers import FAST_HEARTBEATS, STALWART, Workers, wait_for

IMPORT = ("--import", "tests.hardening.races_jobs")
QUEUE_KEY = f"rq:queue:{RACES_QUEUE}"  # RQ's list of the queue's waiting job ids


def runs(connection: redis.Redis, key: str) -> int:
    """How many times a job of races_jobs.py ran for ``key``."""
    return int(connection.get(f"hardening:runs:{key}") or 0)


def dead_entries(connection: redis.Redis, count: int) -> list[str]:
    """``count`` dead entries of FailsOnceThenCounts (keys k0, k1, ...), dead-lettered by an in-process
    worker; returns their ids (an entry's id is its job's id)."""
    handles = [FailsOnceThenCounts.enqueue(connection=connection, key=f"k{n}") for n in range(count)]
    Worker([RACES_QUEUE], connection=connection, mode="inprocess").work(burst=True)
    dlq = DeadLetterQueue(connection)
    assert [dlq.get(h.id).status for h in handles] == ["dead"] * count
    return [h.id for h in handles]


def drain(connection: redis.Redis) -> None:
    Worker([RACES_QUEUE], connection=connection, mode="inprocess").work(burst=True)


def at_once(*actions: Callable[[], object]) -> list[object]:
    """Run ``actions`` in threads lined up on a barrier; returns what each returned or raised, in order."""
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def run(index: int, action: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[index] = action()
        except Exception as err:  # noqa: BLE001 - the caller looks at what each action raised
            results[index] = err

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


# -- replays and discards racing on one entry ----------------------------------------------------


def test_concurrent_replays_of_one_entry_enqueue_its_job_once(connection: redis.Redis) -> None:
    # Given dead entries (several, so the race is not left to one roll of the scheduler's dice)
    entry_ids = dead_entries(connection, 5)
    dlq = DeadLetterQueue(connection)

    for entry_id in entry_ids:
        # When 8 threads replay the same entry at once
        results = at_once(*[partial(dlq.replay, entry_id)] * 8)

        # Then exactly one replay enqueued a job and the others were refused
        won = [r for r in results if isinstance(r, str)]
        refused = [r for r in results if isinstance(r, DeadLetterError)]
        assert (len(won), len(refused)) == (1, 7), f"entry {entry_id}: {results}"
        entry = dlq.get(entry_id)
        assert entry.replays == won
        assert [a["action"] for a in entry.audit] == ["dead-letter", "replay"]
    assert connection.llen(QUEUE_KEY) == len(entry_ids)

    # And draining the queue runs each job once more: its failed first run, then one replay
    drain(connection)
    assert [runs(connection, f"k{n}") for n in range(len(entry_ids))] == [2] * len(entry_ids)


def test_a_replay_racing_a_discard_of_one_entry_lets_exactly_one_win(connection: redis.Redis) -> None:
    # Given dead entries
    entry_ids = dead_entries(connection, 10)
    dlq = DeadLetterQueue(connection)
    enqueued = 0

    for entry_id in entry_ids:
        # When a replay and a discard of the same entry start at once
        replayed, discarded = at_once(
            partial(dlq.replay, entry_id), partial(dlq.discard, entry_id, reason="duplicate order")
        )

        # Then exactly one of them succeeds, the other is refused, and the entry's status and audit agree
        # with the one that won
        replay_won = isinstance(replayed, str)
        discard_won = not isinstance(discarded, Exception)
        entry = dlq.get(entry_id)
        story = (
            f"entry {entry_id}: the replay {'succeeded' if replay_won else 'was refused'}, the discard "
            f"{'succeeded' if discard_won else 'was refused'}; the entry is {entry.status}, "
            f"audit {[a['action'] for a in entry.audit]}"
        )
        assert replay_won != discard_won, story
        assert isinstance(discarded if replay_won else replayed, DeadLetterError), story
        expected = ("replayed", "replay") if replay_won else ("discarded", "discard")
        assert (entry.status, [a["action"] for a in entry.audit]) == (
            expected[0],
            ["dead-letter", expected[1]],
        ), story
        enqueued += replay_won

    # And only the replays that won enqueued a job
    assert connection.llen(QUEUE_KEY) == enqueued


def test_two_bulk_replays_at_once_replay_each_entry_exactly_once(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Slow: 10 to 20 s (1,000 entries dead-lettered, then replayed and drained).
    # Given 1,000 dead entries
    count = 1000
    entry_ids = dead_entries(connection, count)

    # When two `stalwart dlq replay --all --yes` start together: each waits at a gate while it imports the
    # job module (races_jobs.py), and the gate opens once both are there
    gate = tmp_path / "gate"
    env = {**subprocess_env, "HARDENING_START_GATE": str(gate)}
    command = [*STALWART, "dlq", "replay", "--all", "--yes", *IMPORT]
    replays = [
        subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    try:
        wait_for(lambda: len(list(tmp_path.glob("gate.ready.*"))) == 2)
        gate.touch()
        ended = [p.communicate(timeout=60) for p in replays]
    finally:
        for process in replays:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    assert [p.returncode for p in replays] == [0, 0], [err.decode()[-2000:] for _, err in ended]

    # Then each entry was replayed exactly once: one replay in its audit, one job id in its replays, one
    # job on the queue for it
    dlq = DeadLetterQueue(connection)
    entries = [dlq.get(entry_id) for entry_id in entry_ids]
    replayed = Counter(sum(a["action"] == "replay" for a in e.audit) for e in entries)
    assert replayed == {1: count}, (
        f"entries by how many times they were replayed: {dict(replayed)}; "
        f"jobs enqueued: {connection.llen(QUEUE_KEY)}"
    )
    assert Counter(tuple(a["action"] for a in e.audit) for e in entries) == {("dead-letter", "replay"): count}
    assert Counter((e.status, len(e.replays)) for e in entries) == {("replayed", 1): count}
    assert connection.llen(QUEUE_KEY) == count

    # And each command said how many it replayed and how many it skipped because the other took them: the
    # replayed add up to every entry
    said = [BULK_REPORT.fullmatch(out.decode().strip()) for out, _ in ended]
    assert all(said), [out.decode() for out, _ in ended]
    assert sum(int(m.group("replayed")) for m in said if m) == count

    # And once drained, each job ran exactly twice in all: its failed first run and one replay
    drain(connection)
    counters = connection.mget([f"hardening:runs:k{n}" for n in range(count)])
    assert Counter(int(c or 0) for c in counters) == {2: count}


BULK_REPORT = re.compile(
    r"replayed (?P<replayed>\d+) entries(; skipped (?P<skipped>\d+) that another operator replayed or "
    r"discarded meanwhile)?"
)


def test_a_bulk_replay_skips_an_entry_discarded_after_it_was_listed_and_reports_it(
    connection: redis.Redis,
) -> None:
    # Given three dead entries, and a bulk replay that takes one entry at a time (a rate of 1 a second)
    entry_ids = dead_entries(connection, 3)
    dlq = DeadLetterQueue(connection)

    # When, once the bulk replay has listed them and replayed the first one, an operator discards one of
    # the two it has not reached yet
    taken: list[str] = []

    def discard_one_not_reached(done: int) -> None:
        if done == 1:
            taken.append(next(i for i in entry_ids if dlq.get(i).status == "dead"))
            dlq.discard(taken[0], reason="the customer cancelled the order")

    result = replay_all(dlq, rate=1, progress=discard_one_not_reached, sleep=lambda _: None)

    # Then the bulk replay skipped the discarded entry and said so; the other two were replayed once each
    assert result.skipped == taken
    assert sorted(e.id for e in result) == sorted(set(entry_ids) - set(taken))
    assert [a["action"] for a in dlq.get(taken[0]).audit] == ["dead-letter", "discard"]
    assert dlq.get(taken[0]).status == "discarded"
    assert connection.llen(QUEUE_KEY) == 2


# -- a stalled worker's job ---------------------------------------------------------------------


def test_a_stalled_worker_that_finishes_after_its_job_was_settled_leaves_one_final_state(
    connection: redis.Redis, workers: Workers, tmp_path: Path
) -> None:
    # Slow: about 5 s (the 3 s heartbeat TTL has to lapse).
    # Given an in-process worker (one process: the job runs in it) in the middle of a job that is not
    # idempotent
    started, release = tmp_path / "started", tmp_path / "release"
    stalled = workers.start(*IMPORT, "--queue", RACES_QUEUE, "--in-process")
    handle = BlocksUntilReleased.enqueue(
        connection=connection, key="stalled", path=str(started), release=str(release)
    )
    wait_for(started.exists)

    # When that worker is stopped (SIGSTOP) for longer than the heartbeat TTL, and another worker's reaper
    # settles the job as abandoned: dead-lettered, alerted
    os.kill(stalled.pid, signal.SIGSTOP)
    reaper = workers.start(*IMPORT, "--queue", RACES_QUEUE, "--in-process")
    dlq = DeadLetterQueue(connection)
    wait_for(lambda: dlq.exists(handle.id), timeout_s=20)
    entry = dlq.get(handle.id)
    assert (str(entry.classification), entry.status) == ("abandoned", "dead")
    alerts = [json.loads(a) for a in connection.lrange("stalwart:alerts:outbox", 0, -1)]
    assert [a["title"].split(":")[0] for a in alerts] == [
        "hardening.BlocksUntilReleased dead-lettered (abandoned)"
    ], alerts
    reaper.kill()
    reaper.wait(10)

    # And the stalled worker wakes up (SIGCONT), and its attempt finishes
    os.kill(stalled.pid, signal.SIGCONT)
    release.touch()
    # (the worker runs one job at a time: once it has run the next one, it has finished the first)
    after = FailsOnceThenCounts.enqueue(connection=connection, key="after")
    assert after.wait(timeout_s=30) is Status.DEAD_LETTERED
    assert stalled.poll() is None

    # Then the job has exactly one final state, in its status and its entry alike: either the late result
    # was refused (the job stays dead-lettered, its entry dead), or it was recorded (the job succeeded and
    # its entry says so: no longer dead, so it no longer invites a replay that would run the job again)
    assert runs(connection, "stalled") == 1
    assert_one_final_state(handle, dlq.get(handle.id))


def log_records(path: Path) -> list[dict[str, object]]:
    """The JSON lines of a worker's log."""
    found = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def finished_late(path: Path) -> list[dict[str, object]]:
    """The lines in which a worker said that an attempt finished after someone else had settled it."""
    return [r for r in log_records(path) if r.get("outcome") == "finished_late"]


def stall_until_settled(
    workers: Workers, stalled: subprocess.Popen[bytes], settled: Callable[[], bool]
) -> None:
    """SIGSTOP ``stalled``, start another worker, wait until ``settled()``, then kill that other worker."""
    os.kill(stalled.pid, signal.SIGSTOP)
    reaper = workers.start(*IMPORT, "--queue", RACES_QUEUE, "--in-process")
    wait_for(settled, timeout_s=20)
    reaper.kill()
    reaper.wait(10)


def test_a_stalled_worker_that_finishes_after_its_entry_was_replayed_says_the_job_may_have_run_twice(
    connection: redis.Redis, workers: Workers, tmp_path: Path
) -> None:
    # Slow: about 5 s (the 3 s heartbeat TTL has to lapse).
    # Given a stalled worker whose job (not idempotent) another worker has dead-lettered as abandoned
    started, release = tmp_path / "started", tmp_path / "release"
    stalled = workers.start(*IMPORT, "--queue", RACES_QUEUE, "--in-process")
    handle = BlocksUntilReleased.enqueue(
        connection=connection, key="twice", path=str(started), release=str(release)
    )
    wait_for(started.exists)
    dlq = DeadLetterQueue(connection)
    stall_until_settled(workers, stalled, lambda: dlq.exists(handle.id))

    # When an operator replays the entry, and then the stalled worker wakes up and finishes the first run
    # (and then, being the only worker left, runs the replay)
    replay_id = dlq.replay(handle.id)
    os.kill(stalled.pid, signal.SIGCONT)
    release.touch()
    wait_for(lambda: dlq.get(handle.id).status == "resolved")

    # Then the late run's result is recorded, the entry's audit says it finished after the replay was
    # enqueued, and the worker's log says so at ERROR: the job ran twice (as the counter shows)
    assert handle.status() is Status.SUCCEEDED
    entry = dlq.get(handle.id)
    assert [a["action"] for a in entry.audit] == [
        "dead-letter",
        "replay",
        "finished-late",
        "replay-succeeded",
    ]
    assert (entry.audit[2]["result"], entry.audit[2]["replays"]) == ("left replayed", [replay_id])
    assert runs(connection, "twice") == 2
    [line] = finished_late(workers.log_of(0))
    assert line["level"] == "error"
    assert "may have happened twice" in str(line["msg"])


def test_a_stalled_worker_that_finishes_an_attempt_already_retried_leaves_the_job_to_the_retry(
    connection: redis.Redis, workers: Workers, tmp_path: Path
) -> None:
    # Slow: about 5 s (the 3 s heartbeat TTL has to lapse).
    # Given a stalled worker whose job (idempotent) another worker settled as abandoned and is running again
    started, release = tmp_path / "started", tmp_path / "release"
    stalled = workers.start(*IMPORT, "--queue", RACES_QUEUE, "--in-process")
    handle = BlocksUntilReleasedIdempotently.enqueue(
        connection=connection, key="retried", path=str(started), release=str(release)
    )
    wait_for(started.exists)
    os.kill(stalled.pid, signal.SIGSTOP)
    workers.start(*IMPORT, "--queue", RACES_QUEUE, "--in-process")
    wait_for(lambda: runs(connection, "retried") == 2, timeout_s=20)

    # When the stalled worker wakes up, and both runs finish
    os.kill(stalled.pid, signal.SIGCONT)
    release.touch()
    wait_for(lambda: bool(finished_late(workers.log_of(0))))

    # Then the job succeeded once, by its second attempt; the stalled worker's late result changed nothing,
    # and its log says so (a warning: there is nothing to do)
    assert handle.wait(timeout_s=30) is Status.SUCCEEDED
    assert connection.hget(f"rq:job:{handle.id}", "stalwart_attempt") == b"2"
    assert not DeadLetterQueue(connection).exists(handle.id)
    [line] = finished_late(workers.log_of(0))
    assert line["level"] == "warning"
    assert "this result is not recorded" in str(line["msg"])


def assert_one_final_state(handle: JobHandle, entry: DeadLetterEntry) -> None:
    status = handle.status()
    actions = [a["action"] for a in entry.audit]
    refused = status is Status.DEAD_LETTERED and entry.status == "dead" and "replay" not in actions
    recorded = status is Status.SUCCEEDED and entry.status not in ("dead", "replayed") and len(actions) > 1
    assert refused or recorded, (
        f"job {handle.id} is {status.value} while its dead-letter entry is {entry.status} (audit: {actions})"
    )


# -- Redis outages taken for dead workers ----------------------------------------------------------

FINAL = (Status.SUCCEEDED, Status.NEGATIVE, Status.DEAD_LETTERED)


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def has_lines(path: Path, count: int) -> bool:
    return lines(path) == count


def run_started_or_job_ended(starts: Path, run: int, handle: JobHandle) -> bool:
    return lines(starts) == run or handle.status() in FINAL


def heartbeats(connection: redis.Redis, job_id: str) -> list[tuple[str, float]]:
    """The job's executions in RQ's started-job registry (``rq:wip:<queue>``, members
    ``<job id>:<execution id>``), each with its heartbeat deadline (epoch seconds)."""
    raw = cast(
        "list[tuple[bytes, float]]", connection.zrange(f"rq:wip:{RACES_QUEUE}", 0, -1, withscores=True)
    )
    return [(m.decode(), float(s)) for m, s in raw if m.decode().startswith(f"{job_id}:")]


def test_an_idempotent_job_whose_end_redis_restarts_swallowed_is_not_quarantined_as_poison(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Slow: about 17 s (two Redis restarts, each followed by a heartbeat TTL of 7 s).
    # Given one in-process worker on a Redis of its own (AOF on: a restart loses nothing), heartbeats
    # every second and a 7 s TTL, a kill limit of 2 (the default is 3; each restart costs a TTL, so the
    # test counts two), running an idempotent job that touches no Redis itself.
    # (Why the long TTL: a worker that lost Redis starts its loop again after 1 s, then 2 s, then 4 s, its
    # backoff never reset, plus up to 2 s to stop RQ's scheduler, and a restart that finds Redis still
    # down doubles it again. That restart runs RQ's own registry cleanup, which fails a job whose heartbeat
    # has lapsed before stalwart's reaper sees it: another bug, see the next test. The TTL outlasts the
    # first two restarts, so that stalwart's reaper is the one that settles the job.)
    with outage_run(
        tmp_path,
        subprocess_env,
        STALWART_HEARTBEAT_INTERVAL_S="1",
        STALWART_HEARTBEAT_TTL_S="7",
        STALWART_KILL_LIMIT="2",
    ) as stage:
        connection, starts, ends, release = stage.connection, stage.starts, stage.ends, stage.release
        stage.pool.start(*IMPORT, "--queue", RACES_QUEUE, "--in-process")
        handle = stage.enqueue()
        for run in (1, 2):
            wait_for(partial(run_started_or_job_ended, starts, run, handle), timeout_s=30)
            if lines(starts) < run:
                break  # the job has ended: nothing runs it again

            # When Redis restarts just as a run ends, so the worker cannot record that the run ended (it
            # tries within milliseconds; Redis takes about half a second to start again): as many times in a
            # row as the kill limit, while the worker itself never dies
            stage.redis_down()
            Path(f"{release}.{run}").touch()
            wait_for(partial(has_lines, ends, run))
            stage.redis_up()

        # Then the job is not quarantined as poison (it never took its worker down): once its runs are let
        # through, it ends succeeded
        Path(f"{release}.all").touch()
        status = handle.wait(timeout_s=30)
        dlq = DeadLetterQueue(connection)
        entry = dlq.get(handle.id) if dlq.exists(handle.id) else None
        assert status is Status.SUCCEEDED, (
            f"the job is {status.value} after {lines(starts)} runs, each of which ended; "
            f"stalwart_kills={connection.hget(f'rq:job:{handle.id}', 'stalwart_kills')!r}"
            + (f"; dead-letter entry: {entry.classification}: {entry.message}" if entry else "")
        )
        assert stage.pool.started[0].poll() is None


def gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie nobody has reaped yet counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def test_an_idempotent_job_running_through_a_redis_outage_ends_succeeded_and_not_dead_lettered(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Slow: about 12 s (Redis stays down past the 3 s heartbeat TTL; the worker reconnects with backoff).
    # Given a forking worker on a Redis of its own (AOF on), heartbeats every second and a 3 s TTL, whose
    # work-horse runs an idempotent job that touches no Redis itself
    with outage_run(tmp_path, subprocess_env, **FAST_HEARTBEATS) as stage:
        connection, starts, ends, release = stage.connection, stage.starts, stage.ends, stage.release
        worker = stage.pool.start(*IMPORT, "--queue", RACES_QUEUE)
        handle = stage.enqueue()
        wait_for(lambda: lines(starts) == 1)
        horse = int(starts.read_text().split()[0])
        deadline = max(score for _, score in heartbeats(connection, handle.id))

        # When Redis goes away while the job runs, for longer than the heartbeat TTL, and comes back
        stage.redis_down()
        wait_for(lambda: time.time() > deadline + 1)  # the outage: until the job's heartbeat has lapsed
        stage.redis_up()
        back_at = time.time()

        # ... and the job is still running when the worker has dealt with the outage: it settled the job,
        # or renewed its heartbeat
        def dealt_with() -> bool:
            if connection.hget(f"rq:job:{handle.id}", "status") != b"started":
                return True
            return any(score > back_at for _, score in heartbeats(connection, handle.id))

        wait_for(dealt_with, timeout_s=30)
        Path(f"{release}.all").touch()
        wait_for(lambda: gone(horse), timeout_s=30)

        # Then the job ends in one state: succeeded (it is idempotent, so an attempt cut off by the outage
        # is retried, not dead-lettered), with no dead entry inviting a replay
        status = handle.wait(timeout_s=30)
        dlq = DeadLetterQueue(connection)
        entry = dlq.get(handle.id) if dlq.exists(handle.id) else None
        assert status is Status.SUCCEEDED and (entry is None or entry.status not in ("dead", "replayed")), (
            f"the job is {status.value} after {lines(ends)} run(s) ended"
            + (f"; its dead-letter entry is {entry.status}: {entry.message}" if entry else "")
        )
        assert worker.poll() is None
