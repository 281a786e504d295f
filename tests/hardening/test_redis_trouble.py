"""Redis in trouble (issue 11): full, silent, sharing its keys, or going away; and a disk filling up.

Every test that changes how Redis behaves (maxmemory, stopping it) runs its own
``EmbeddedRedis`` in ``tmp_path``, so the session's server is never affected.
"""

from __future__ import annotations

import json
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from jobs import Classification, DeadLetterQueue, EmbeddedRedis, Status, Worker, settings
from jobs.testing import run_queued
from tests.conftest import REPO
from tests.hardening.trouble_jobs import (
    TroubleAppends,
    TroubleBlocksUntilReleased,
    TroubleFails,
    TroubleFillsRedis,
    TroubleWarns,
)
from tests.workers import STALWART, Workers, stalwart, wait_for

TROUBLE_JOBS = ("--import", "tests.hardening.trouble_jobs")
TRACEBACK = "Traceback (most recent call last)"
FULL = re.compile(r"maxmemory|out of memory|redis is full", re.IGNORECASE)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis server of the test's own (AOF on), stopped at the end whatever the test did to it."""
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()  # SHUTDOWN is allowed even when Redis is full


@pytest.fixture
def own_env(own_redis: EmbeddedRedis, subprocess_env: dict[str, str]) -> dict[str, str]:
    """Workers' environment on ``own_redis``, with short heartbeats so abandoned jobs settle in seconds."""
    return {
        **subprocess_env,
        "REDIS_URL": own_redis.url,
        "STALWART_HEARTBEAT_INTERVAL_S": "1",
        "STALWART_HEARTBEAT_TTL_S": "3",
    }


@pytest.fixture
def pool(own_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    workers = Workers(own_env, tmp_path)
    yield workers
    workers.kill_all()


def json_lines(log: Path) -> list[dict[str, object]]:
    """The lines of a worker's log that are JSON objects (the others are ignored here)."""
    found = []
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            found.append(record)
    return found


def not_json(log: Path) -> list[str]:
    """The lines of a worker's log that are not JSON objects."""
    bad = []
    for line in log.read_text().splitlines():
        try:
            if not isinstance(json.loads(line), dict):
                bad.append(line)
        except ValueError:
            bad.append(line)
    return bad


def says_redis_is_full(log: Path) -> bool:
    """Whether the worker has logged that Redis is full.

    The reaper thread's round-by-round warning is not counted: it can come first, and freeing memory
    on it would end the outage before the worker's own loop has met it.
    """
    return any(
        FULL.search(str(record.get("msg", ""))) and "abandoned jobs" not in str(record.get("msg"))
        for record in json_lines(log)
    )


def fill(connection: redis.Redis) -> None:
    """Make Redis refuse every write: maxmemory below what it already uses, and no eviction."""
    connection.config_set("maxmemory-policy", "noeviction")
    connection.config_set("maxmemory", 1)


# -- a full Redis ------------------------------------------------------------------------------


def test_a_worker_started_while_redis_is_full_waits_and_runs_every_queued_job_once_memory_is_freed(
    own_redis: EmbeddedRedis, pool: Workers, tmp_path: Path
) -> None:
    # Given three jobs queued, then Redis full (every write refused)
    connection = redis.Redis.from_url(own_redis.url)
    runs = tmp_path / "runs"
    handles = [TroubleAppends.enqueue(connection=connection, path=str(runs), text=str(n)) for n in range(3)]
    fill(connection)

    # When a worker starts, and memory is freed once it has said that Redis is full
    worker, log = pool.start(*TROUBLE_JOBS), pool.log_of(0)
    wait_for(lambda: worker.poll() is not None or says_redis_is_full(log), timeout_s=30)
    assert worker.poll() is None, log.read_text()[-1500:]
    connection.config_set("maxmemory", 0)

    # Then the same worker runs every queued job, once, and its log has no traceback
    wait_for(lambda: all(h.status() is Status.SUCCEEDED for h in handles), timeout_s=30)
    assert sorted(runs.read_text().split()) == ["0", "1", "2"]
    assert worker.poll() is None
    assert TRACEBACK not in log.read_text()


def test_a_worker_whose_redis_fills_up_mid_job_carries_on_once_memory_is_freed_and_loses_no_job(
    own_redis: EmbeddedRedis, pool: Workers, tmp_path: Path
) -> None:
    # Given a worker in the middle of a job, with two more jobs queued behind it
    connection = redis.Redis.from_url(own_redis.url)
    worker, log = pool.start(*TROUBLE_JOBS), pool.log_of(0)
    started, release, runs = tmp_path / "started", tmp_path / "release", tmp_path / "runs"
    running = TroubleBlocksUntilReleased.enqueue(
        connection=connection, started=str(started), release=str(release)
    )
    wait_for(started.exists)
    queued = [TroubleAppends.enqueue(connection=connection, path=str(runs), text=str(n)) for n in range(2)]

    # When Redis fills up before the job ends, and memory is freed once the worker has said so
    fill(connection)
    release.touch()
    wait_for(lambda: worker.poll() is not None or says_redis_is_full(log), timeout_s=30)
    assert worker.poll() is None, log.read_text()[-1500:]
    connection.config_set("maxmemory", 0)

    # Then the same worker runs the queued jobs, and the job that was running is settled, not lost
    wait_for(lambda: all(h.status() is Status.SUCCEEDED for h in queued), timeout_s=30)
    assert sorted(runs.read_text().split()) == ["0", "1"]
    wait_for(lambda: running.status() in (Status.SUCCEEDED, Status.DEAD_LETTERED), timeout_s=30)
    if running.status() is Status.DEAD_LETTERED:  # its end could not be recorded: it may have taken effect
        assert DeadLetterQueue(connection).get(running.id).classification is Classification.ABANDONED
    assert worker.poll() is None
    assert TRACEBACK not in log.read_text()


def test_a_job_whose_end_a_full_redis_refused_is_recorded_once_memory_is_freed_and_the_worker_goes_on(
    own_redis: EmbeddedRedis, pool: Workers, tmp_path: Path
) -> None:
    # Given an in-process worker in the middle of a job (not idempotent), with a job queued behind it
    connection = redis.Redis.from_url(own_redis.url)
    worker, log = pool.start(*TROUBLE_JOBS, "--in-process"), pool.log_of(0)
    started, release, runs = tmp_path / "started", tmp_path / "release", tmp_path / "runs"
    running = TroubleBlocksUntilReleased.enqueue(
        connection=connection, started=str(started), release=str(release)
    )
    wait_for(started.exists)
    queued = TroubleAppends.enqueue(connection=connection, path=str(runs))

    # When Redis is full as the job ends (its end cannot be recorded), and memory is freed later
    fill(connection)
    release.touch()
    wait_for(lambda: worker.poll() is not None or says_redis_is_full(log), timeout_s=30)
    connection.config_set("maxmemory", 0)

    # Then the job's end, kept meanwhile, is recorded (it ran to an end: it is not settled as abandoned),
    # the queued job runs, and the worker said once why it could not record the end, and once that it did
    assert queued.wait(timeout_s=30) is Status.SUCCEEDED
    assert running.wait(timeout_s=30) is Status.SUCCEEDED
    assert not DeadLetterQueue(connection).exists(running.id)
    said = [str(r.get("msg")) for r in json_lines(log)]
    unrecorded = [m for m in said if m.startswith(f"could not record how job {running.id}")]
    assert len(unrecorded) == 1 and FULL.search(unrecorded[0])
    assert len([m for m in said if m.startswith(f"recorded how job {running.id} ended")]) == 1
    assert worker.poll() is None
    assert TRACEBACK not in log.read_text() and not_json(log) == []


@pytest.mark.parametrize("mode", ["fork", "in-process"])
def test_a_worker_idle_when_redis_fills_up_runs_the_next_job_once_memory_is_freed(
    own_redis: EmbeddedRedis, pool: Workers, tmp_path: Path, mode: str
) -> None:
    # Given an idle worker, its scheduler running
    connection = redis.Redis.from_url(own_redis.url)
    worker, log = (
        pool.start(*TROUBLE_JOBS, *(["--in-process"] if mode == "in-process" else [])),
        pool.log_of(0),
    )
    first = TroubleAppends.enqueue(connection=connection, path=str(tmp_path / "runs"), text="first")
    assert first.wait(timeout_s=30) is Status.SUCCEEDED

    # When Redis is full for a while (its reaper and scheduler meet it), then has room again
    fill(connection)
    wait_for(lambda: any(FULL.search(str(r.get("msg"))) for r in json_lines(log)), timeout_s=30)
    connection.config_set("maxmemory", 0)

    # Then the worker runs the next job, and its log is JSON lines with no traceback
    after = TroubleAppends.enqueue(connection=connection, path=str(tmp_path / "runs"), text="after")
    assert after.wait(timeout_s=30) is Status.SUCCEEDED
    assert worker.poll() is None
    assert TRACEBACK not in log.read_text() and not_json(log) == []


@pytest.mark.parametrize(("command", "status"), [("discard", "discarded"), ("replay", "replayed")])
def test_a_dead_letter_status_change_on_a_full_redis_is_made_whole_by_its_one_script(
    own_redis: EmbeddedRedis, own_env: dict[str, str], command: str, status: str
) -> None:
    # Given a dead entry, then Redis full
    connection = redis.Redis.from_url(own_redis.url)
    (entry_id,) = dead_entries(connection, 1)
    fill(connection)

    # When a person discards or replays it
    extra = ["--reason", "a duplicate"] if command == "discard" else list(TROUBLE_JOBS)
    run = stalwart("dlq", command, entry_id, *extra, env=own_env)

    # Then the change is made whole: it is one Lua script, which starts by removing the entry from its
    # status index (a write Redis allows when full) and so is let to finish; a replay's job is enqueued
    connection.config_set("maxmemory", 0)
    assert (run.returncode, run.stderr) == (0, "")
    entry = DeadLetterQueue(connection).get(entry_id)
    assert [a["action"] for a in entry.audit] == ["dead-letter", command]
    assert entry.status == status
    if command == "replay":
        assert connection.hget(f"rq:job:{entry.replays[-1]}", "status") == b"queued"


def test_a_dead_letter_command_that_reads_first_on_a_full_redis_is_one_line_saying_so(
    own_redis: EmbeddedRedis, own_env: dict[str, str]
) -> None:
    # Given dead entries, then Redis full
    connection = redis.Redis.from_url(own_redis.url)
    dead_entries(connection, 2)
    fill(connection)

    # When a person lists them, filtered (the filter intersects indexes into a scratch key: a write)
    run = stalwart("dlq", "list", "--job", "hardening.TroubleFails", "--status", "dead", env=own_env)

    # Then one line says that Redis is full
    connection.config_set("maxmemory", 0)
    assert run.returncode == 1 and TRACEBACK not in run.stderr, run.stderr[-800:]
    (line,) = run.stderr.splitlines()
    assert line.startswith("stalwart: ") and FULL.search(line), line


def test_run_queued_in_a_users_test_raises_the_outage_that_stopped_it_rather_than_returning_part_of_a_run(
    own_redis: EmbeddedRedis,
) -> None:
    # Given a job that fills Redis as it runs (so its end cannot be recorded), and one queued behind it
    connection = redis.Redis.from_url(own_redis.url)
    filler = TroubleFillsRedis.enqueue(connection=connection)
    TroubleAppends.enqueue(connection=connection, path="never-written")

    # When a user's test runs the queue, then it learns that Redis failed: no partial result
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        run_queued(connection=connection)
    connection.config_set("maxmemory", 0)
    assert connection.hget(f"rq:job:{filler.id}", "status") == b"started"  # settled later by a reaper


# -- enqueue against a Redis that never answers ------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts every connection and never answers; yields its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stopping.set()
    thread.join(5)
    listener.close()
    for connection in held:
        connection.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ENQUEUE = """
import sys
import redis
from jobs import EnqueueError
from tests.hardening.trouble_jobs import TroubleAppends

port, how = int(sys.argv[1]), sys.argv[2]
kwargs = {"connection": redis.Redis(host="127.0.0.1", port=port)} if how == "own client" else {}
try:
    TroubleAppends.enqueue(path="never-written", **kwargs)
except EnqueueError:
    print("EnqueueError")
else:
    print("enqueued")
"""


@pytest.mark.parametrize(
    ("server", "how"),
    [("silent", "own client"), ("silent", "REDIS_URL"), ("nothing listens", "own client")],
)
def test_enqueue_gives_up_with_enqueue_error_when_redis_never_answers(
    silent_server: int, subprocess_env: dict[str, str], server: str, how: str
) -> None:
    # Given a Redis address where a server accepts connections and never answers (or where nothing
    # listens), named by the caller's own redis.Redis (redis-py's default retries) or by REDIS_URL
    port = silent_server if server == "silent" else free_port()
    env = {**subprocess_env, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    env.pop("STALWART_ENQUEUE_ATTEMPTS", None)

    # When a job is enqueued there (in a process of its own, so that it can be stopped)
    process = subprocess.Popen(
        [sys.executable, "-c", ENQUEUE, str(port), how],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Then it gives up with EnqueueError: a liveness bound four times the README's "about 5 s",
        # not a measurement
        out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError(f"enqueue ({server}, {how}) was still blocked after 20 s") from None
    assert (process.returncode, out) == (0, "EnqueueError\n"), err[-1500:]


# -- archiving onto a disk that fills up -------------------------------------------------------


def dead_entries(connection: redis.Redis, count: int) -> list[str]:
    handles = [TroubleFails.enqueue(connection=connection, message=f"failure {n}") for n in range(count)]
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    return [h.id for h in handles]


def archive_on_a_disk_with_room_for(
    limit: int | None, target: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``stalwart dlq archive --older-than 0s --to target``; with ``limit``, no file may grow past it.

    RLIMIT_FSIZE makes a write past ``limit`` bytes fail with EFBIG (SIGXFSZ ignored), as a full
    disk makes it fail with ENOSPC: part of the buffer is written, then OSError.
    """

    def full_disk() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return subprocess.run(
        [*STALWART, "dlq", "archive", "--older-than", "0s", "--to", str(target)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=full_disk,
        check=False,
    )


def half_of_the_archive(connection: redis.Redis, ids: list[str]) -> int:
    """About half the bytes the archive of these entries takes: the limit falls inside a line."""
    entries = DeadLetterQueue(connection).get_many(ids, with_audit=True)
    return sum(len(entry.to_json()) + 1 for entry in entries) // 2


def read_archive(target: Path) -> tuple[list[str], list[str]]:
    """The entry ids of the archive's lines, in order, and the lines that are not a whole entry."""
    archived, unreadable = [], []
    for number, text in enumerate(target.read_text().splitlines() if target.exists() else [], 1):
        try:
            archived.append(json.loads(text)["id"])
        except (ValueError, KeyError, TypeError):
            unreadable.append(f"line {number}: {text[:60]}...{text[-60:]}")
    return archived, unreadable


def test_dlq_archive_on_a_full_disk_fails_with_one_line_and_loses_no_entry(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    ids = dead_entries(connection, 12)
    target = tmp_path / "archive.jsonl"

    failed = archive_on_a_disk_with_room_for(half_of_the_archive(connection, ids), target, subprocess_env)

    assert failed.returncode != 0
    assert TRACEBACK not in failed.stderr, failed.stderr[-800:]
    (line,) = failed.stderr.splitlines()
    assert line.startswith("stalwart: ") and str(target) in line
    archived, _ = read_archive(target)
    dlq = DeadLetterQueue(connection)
    assert [i for i in ids if i not in archived and not dlq.exists(i)] == []  # none lost


def test_dlq_archive_after_a_full_disk_leaves_valid_json_lines_with_every_entry_exactly_once(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    # Given an archive run that failed part-way because the disk filled up
    ids = dead_entries(connection, 12)
    target = tmp_path / "archive.jsonl"
    archive_on_a_disk_with_room_for(half_of_the_archive(connection, ids), target, subprocess_env)

    # When the disk has room again and the archive is run again
    again = archive_on_a_disk_with_room_for(None, target, subprocess_env)

    # Then every line of the archive is one whole entry, every entry is there exactly once, and none
    # is left in Redis
    assert again.returncode == 0, again.stderr[-800:]
    archived, unreadable = read_archive(target)
    assert unreadable == []
    assert sorted(archived) == sorted(ids)  # each once: no entry written twice
    assert not any(DeadLetterQueue(connection).exists(entry_id) for entry_id in ids)


# -- a custom RQ_KEY_PREFIX ----------------------------------------------------------------------

ENQUEUE_WITH_PREFIX = """
import json
import sys
from tests.hardening import trouble_jobs

job = getattr(trouble_jobs, sys.argv[1])
print(job.enqueue(**json.loads(sys.argv[2])).id)
"""


@pytest.fixture
def team2_env(own_env: dict[str, str]) -> dict[str, str]:
    """Every process of this application (workers, CLI, enqueuers) runs with RQ_KEY_PREFIX=team2."""
    return {**own_env, "RQ_KEY_PREFIX": "team2"}


def enqueue_as_team2(env: dict[str, str], job: str, **kwargs: str) -> str:
    """Enqueue ``job`` in a process of its own (RQ reads RQ_KEY_PREFIX at import); returns the job id."""
    done = subprocess.run(
        [sys.executable, "-c", ENQUEUE_WITH_PREFIX, job, json.dumps(kwargs)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-800:]
    return done.stdout.strip()


def rq_keys(connection: redis.Redis) -> list[bytes]:
    """Keys under RQ's default prefix ``rq:``, where no team2 process reads."""
    return sorted(connection.scan_iter(match="rq:*"))


@pytest.mark.parametrize(
    ("replay", "said"),
    [
        (("--all", "--yes"), "replayed 1 entry\n"),  # wrote RQ's keys literally before the fix
        (("ENTRY",), "replayed ENTRY as job "),  # went through RQ's Queue, so it followed the prefix already
    ],
    ids=["bulk", "single"],
)
def test_a_replay_with_a_custom_rq_key_prefix_is_run_by_the_workers_of_that_prefix(
    own_redis: EmbeddedRedis, team2_env: dict[str, str], tmp_path: Path, replay: tuple[str, ...], said: str
) -> None:
    # Given a worker with RQ_KEY_PREFIX=team2, and a job it dead-lettered
    connection = redis.Redis.from_url(own_redis.url)
    pool = Workers(team2_env, tmp_path)
    try:
        pool.start(*TROUBLE_JOBS)
        marker = tmp_path / "fixed"
        entry_id = enqueue_as_team2(team2_env, "TroubleFailsUntilFileExists", path=str(marker))
        dlq = DeadLetterQueue(connection)
        wait_for(lambda: dlq.exists(entry_id), timeout_s=30)
        marker.touch()  # the cause is fixed: a replay succeeds

        # When the entry is replayed from the command line, also with RQ_KEY_PREFIX=team2
        args = [entry_id if arg == "ENTRY" else arg for arg in replay]
        replayed = stalwart("dlq", "replay", *args, *TROUBLE_JOBS, env=team2_env)

        # Then the replay went where team2's worker reads, which runs it: the entry is resolved
        assert replayed.returncode == 0, replayed.stderr[-800:]
        assert replayed.stdout.startswith(said.replace("ENTRY", entry_id)), replayed.stdout
        assert rq_keys(connection) == []
        wait_for(lambda: dlq.get(entry_id).status == "resolved", timeout_s=30)
    finally:
        pool.kill_all()


def test_a_job_of_a_killed_worker_with_a_custom_rq_key_prefix_is_settled_by_another_worker(
    own_redis: EmbeddedRedis, team2_env: dict[str, str], tmp_path: Path
) -> None:
    """Passes today (the reaper reads RQ's registries through RQ's classes); kept so the fix does not
    break it. Heartbeats every 1 s with a 3 s TTL (own_env)."""
    connection = redis.Redis.from_url(own_redis.url)
    pool = Workers(team2_env, tmp_path)
    try:
        # Given a team2 worker in the middle of a job
        doomed = pool.start(*TROUBLE_JOBS)
        started, release = tmp_path / "started", tmp_path / "release"
        job_id = enqueue_as_team2(
            team2_env, "TroubleBlocksUntilReleased", started=str(started), release=str(release)
        )
        wait_for(started.exists)

        # When it is SIGKILLed, and another team2 worker runs
        doomed.kill()
        doomed.wait(10)
        release.touch()
        pool.start(*TROUBLE_JOBS)

        # Then that worker settles the job as abandoned (it is not idempotent)
        dlq = DeadLetterQueue(connection)
        wait_for(lambda: dlq.exists(job_id), timeout_s=30)
        assert dlq.get(job_id).classification is Classification.ABANDONED
        assert connection.hget(f"team2:job:{job_id}", "status") == b"failed"  # RQ's job hash, team2's prefix
        assert rq_keys(connection) == []
    finally:
        pool.kill_all()


@pytest.fixture
def apart_env(team2_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every process of this application runs with RQ_KEY_PREFIX=team2 and STALWART_KEY_PREFIX=app2 (this
    test's process too, for stalwart's keys: RQ reads its prefix when it is imported)."""
    monkeypatch.setenv("STALWART_KEY_PREFIX", "app2")
    settings.reset()
    return {**team2_env, "STALWART_KEY_PREFIX": "app2"}


def keys_outside(connection: redis.Redis, *prefixes: str) -> list[bytes]:
    """Every key in Redis that starts with none of ``prefixes``."""
    return sorted(k for k in connection.scan_iter() if not k.startswith(tuple(p.encode() for p in prefixes)))


def test_workers_replays_the_reaper_and_checks_under_custom_prefixes_leave_no_key_outside_them(
    own_redis: EmbeddedRedis, apart_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a worker of an application whose RQ keys are under team2: and whose stalwart keys are under app2:
    connection = redis.Redis.from_url(own_redis.url)
    dlq = DeadLetterQueue(connection)
    pool = Workers(apart_env, tmp_path)
    try:
        doomed = pool.start(*TROUBLE_JOBS)

        # When it runs jobs of every kind: one that succeeds, one dead-lettered (an entry, an alert, the
        # statistics), one retried (the scheduler), one behind a circuit, one behind an idempotency guard
        # counting with an application counter, and two fixed later and replayed (one alone, one in bulk)
        fixed = tmp_path / "fixed"
        ran = [
            enqueue_as_team2(apart_env, "TroubleAppends", path=str(tmp_path / "runs")),
            enqueue_as_team2(apart_env, "TroubleRetriesOnce", marker=str(tmp_path / "marker")),
            enqueue_as_team2(apart_env, "TroubleGuarded", key="welcome-7"),
        ]
        dead = [
            enqueue_as_team2(apart_env, "TroubleFails", message="failed"),
            enqueue_as_team2(apart_env, "TroubleBehindCircuit"),
        ]
        replayed = [
            enqueue_as_team2(apart_env, "TroubleFailsUntilFileExists", path=str(fixed)) for _ in range(2)
        ]
        wait_for(lambda: all(dlq.exists(i) for i in dead + replayed), timeout_s=30)
        wait_for(
            lambda: all(connection.hget(f"team2:job:{i}", "status") == b"finished" for i in ran), timeout_s=30
        )
        fixed.touch()
        one = stalwart("dlq", "replay", replayed[0], *TROUBLE_JOBS, env=apart_env)
        assert one.returncode == 0, one.stderr[-800:]
        bulk = stalwart(
            "dlq",
            "replay",
            "--all",
            "--yes",
            "--job",
            "hardening.TroubleFailsUntilFileExists",
            *TROUBLE_JOBS,
            env=apart_env,
        )
        assert (bulk.returncode, bulk.stdout) == (0, "replayed 1 entry\n"), bulk.stderr[-800:]
        wait_for(lambda: all(dlq.get(i).status == "resolved" for i in replayed), timeout_s=30)

        # And a job's worker is killed mid-job, so another worker's reaper settles it
        started, release = tmp_path / "started", tmp_path / "release"
        abandoned = enqueue_as_team2(
            apart_env, "TroubleBlocksUntilReleased", started=str(started), release=str(release)
        )
        wait_for(started.exists)
        doomed.kill()
        doomed.wait(10)
        release.touch()
        pool.start(*TROUBLE_JOBS)
        wait_for(lambda: dlq.exists(abandoned), timeout_s=30)

        # And the checks and the statistics are run from the command line
        stalwart("check", "--import", "tests.checks_for_tests", env=apart_env)
        assert stalwart("stats", env=apart_env).returncode == 0
    finally:
        pool.kill_all()

    # Then every key in Redis is under one of the two prefixes, and each part wrote under its own
    assert keys_outside(connection, "team2:", "app2:") == []
    for part in ("dlq:entry:", "stats:", "circuit:trouble-dependency", "once:welcome-7", "checks:rule:"):
        assert connection.keys(f"app2:{part}*") != [], part


# -- the log during an outage ----------------------------------------------------------------------


def test_every_line_a_worker_logs_through_a_redis_outage_is_json(
    own_redis: EmbeddedRedis, pool: Workers, tmp_path: Path
) -> None:
    # Given a worker (with its scheduler) in the middle of a job
    connection = redis.Redis.from_url(own_redis.url)
    worker, log = pool.start(*TROUBLE_JOBS), pool.log_of(0)
    started, release = tmp_path / "started", tmp_path / "release"
    TroubleBlocksUntilReleased.enqueue(connection=connection, started=str(started), release=str(release))
    wait_for(started.exists)

    # When Redis stops, the job ends meanwhile, and the worker says it lost Redis
    port = own_redis.port
    own_redis.stop()
    release.touch()
    wait_for(
        lambda: any(
            r.get("logger") == "stalwart.worker" and "lost Redis" in str(r.get("msg"))
            for r in json_lines(log)
        ),
        timeout_s=30,
    )

    # And Redis comes back on the same port, and the worker runs a new job
    own_redis.start(port=port)
    after = TroubleAppends.enqueue(
        connection=redis.Redis.from_url(own_redis.url), path=str(tmp_path / "runs")
    )
    assert after.wait(timeout_s=30) is Status.SUCCEEDED
    worker.terminate()
    worker.wait(30)

    # Then every line of its log is one JSON object
    assert not_json(log) == []


def test_what_python_itself_writes_in_a_worker_is_a_json_line_too(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    # Given a job that issues a warning (Python prints warnings to stderr itself, as plain text)
    handle = TroubleWarns.enqueue(connection=connection, text="old_api() is deprecated")

    # When a worker runs it
    run = stalwart("worker", *TROUBLE_JOBS, "--burst", "--in-process", env=subprocess_env)

    # Then the warning is one JSON line of the worker's log, like every other line
    assert run.returncode == 0, run.stderr[-800:]
    assert handle.status() is Status.SUCCEEDED
    lines = [json.loads(line) for line in run.stderr.splitlines()]
    (warned,) = [line for line in lines if line["logger"] == "py.warnings"]
    assert "UserWarning: old_api() is deprecated" in str(warned["msg"])
