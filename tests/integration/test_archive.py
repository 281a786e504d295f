"""Archiving the dead-letter queue after a run that failed half-way: valid JSON Lines, each entry once.

``tests/hardening/test_redis_trouble.py`` fills the disk under ``stalwart dlq archive``; these cover
the other ways a run ends early: killed in the middle of a line, Redis gone between the write and the
delete, and a second run on the same file at the same time.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from jobs import DeadLetterQueue, Worker
from jobs.dead_letter.archive import archive
from jobs.dead_letter.archive_file import ArchiveFile
from jobs.errors import ArchiveError
from tests.hardening.trouble_jobs import TroubleFails

NOW = timedelta(0)


def dead_entries(connection: redis.Redis, count: int) -> list[str]:
    handles = [TroubleFails.enqueue(connection=connection, message=f"failure {n}") for n in range(count)]
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    return [h.id for h in handles]


def archived_ids(target: Path) -> list[str]:
    """The id of every line, in order; a line that is not one whole entry fails the test."""
    return [json.loads(line)["id"] for line in target.read_text().splitlines()]


def test_a_line_torn_by_a_run_killed_mid_write_is_cut_off_and_each_entry_is_archived_once(
    connection: redis.Redis, tmp_path: Path
) -> None:
    # Given a run killed while writing its batch: the first entry's line whole, the second's half
    ids = dead_entries(connection, 3)
    dlq = DeadLetterQueue(connection)
    first, second = (entry.to_json() for entry in dlq.get_many(ids[:2], with_audit=True))
    target = tmp_path / "archive.jsonl"
    target.write_text(first + "\n" + second[: len(second) // 2])

    # When the archive runs again
    moved = archive(dlq, NOW, target)

    # Then the torn line is gone, the whole one is not written twice, and Redis holds none of them
    assert moved == 3
    assert sorted(archived_ids(target)) == sorted(ids)
    assert [i for i in ids if dlq.exists(i)] == []


def test_entries_written_before_redis_went_away_are_not_written_twice_by_the_next_run(
    connection: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run that wrote its batch and then could not delete it: Redis went away
    ids = dead_entries(connection, 4)
    dlq = DeadLetterQueue(connection)
    target = tmp_path / "archive.jsonl"

    def redis_gone(*args: object, **kwargs: object) -> None:
        raise redis.ConnectionError("Connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(type(dlq), "remove", redis_gone)
        with pytest.raises(redis.ConnectionError):
            archive(dlq, NOW, target)
    assert sorted(archived_ids(target)) == sorted(ids)  # written, fsynced
    assert all(dlq.exists(i) for i in ids)  # and still in Redis

    # When the archive runs again, Redis back
    moved = archive(dlq, NOW, target)

    # Then each entry is in the file once, and gone from Redis
    assert moved == 4
    assert sorted(archived_ids(target)) == sorted(ids)
    assert [i for i in ids if dlq.exists(i)] == []


def test_a_second_archive_run_on_a_file_being_written_is_refused_and_changes_nothing(
    connection: redis.Redis, tmp_path: Path
) -> None:
    ids = dead_entries(connection, 2)
    dlq = DeadLetterQueue(connection)
    target = tmp_path / "archive.jsonl"
    running = ArchiveFile.open(target, remember=10)  # another run holds the file
    try:
        with pytest.raises(ArchiveError) as refused:
            archive(dlq, NOW, target)
    finally:
        running.close()

    assert str(refused.value) == (
        f"another archive run is writing to {target}; run this one again once it has finished"
    )
    assert target.read_text() == ""
    assert all(dlq.exists(i) for i in ids)
