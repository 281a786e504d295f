"""Issue 11, "Secrets": files that hold secrets are their owner's alone, whatever the umask.

Beyond test_secrets.py (a new archive file, a new embedded Redis folder under umask 022): the export
file, archives written by the worker's retention under the loosest umask, an archive a person made
group-readable on purpose (kept so), an embedded folder an earlier version left world-readable, and the
files the server writes later (an AOF rewrite).
"""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import redis

from jobs import DeadLetterQueue, EmbeddedRedis, testing
from jobs.dead_letter.archive import archive
from tests.hardening.secrets_jobs import EchoesCardInError
from tests.hardening.test_secrets import CARD, modes_under, umask
from tests.workers import stalwart, wait_for


def mode(path: Path) -> str:
    """The permission bits of ``path``, in octal."""
    return oct(stat.S_IMODE(path.stat().st_mode))


def one_dead_entry(connection: redis.Redis, tmp_path: Path) -> str:
    """The id of one dead-letter entry whose arguments hold the card number."""
    handle = EchoesCardInError.enqueue(connection=connection, card_number=CARD, record_to=str(tmp_path / "r"))
    testing.run_queued(connection)
    return handle.id


def rewrite_done(client: redis.Redis) -> bool:
    """Whether no AOF rewrite is running or scheduled."""
    persistence = client.info("persistence")
    return persistence["aof_rewrite_in_progress"] == 0 and persistence["aof_rewrite_scheduled"] == 0


def test_the_export_file_is_created_readable_by_its_owner_only(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    entry_id = one_dead_entry(connection, tmp_path)
    target = tmp_path / "export.jsonl"

    with umask(0o022):
        run = stalwart("dlq", "export", "--output", str(target), env=subprocess_env)

    assert run.returncode == 0, run.stderr
    assert entry_id in target.read_text()
    assert mode(target) == oct(0o600)


def test_an_archive_is_created_0600_even_under_an_empty_umask_and_an_existing_ones_mode_is_kept(
    connection: redis.Redis, tmp_path: Path
) -> None:
    one_dead_entry(connection, tmp_path)
    created, chosen = tmp_path / "new" / "archive.jsonl", tmp_path / "shared.jsonl"
    chosen.write_text("")
    chosen.chmod(0o640)  # a person gave the backup group read access: their choice stands

    with umask(0):
        assert archive(DeadLetterQueue(connection), timedelta(0), created) == 1
    one_dead_entry(connection, tmp_path / "new")
    assert archive(DeadLetterQueue(connection), timedelta(0), chosen) == 1

    assert (mode(created), mode(chosen)) == (oct(0o600), oct(0o640))
    assert CARD in created.read_text() and CARD in chosen.read_text()


def test_an_embedded_folder_left_readable_is_made_private_with_what_the_server_writes_later(
    tmp_path: Path,
) -> None:
    # Given a folder an earlier version left world-readable, data file included
    directory = tmp_path / "stalwart-home"
    directory.mkdir(mode=0o755)
    (directory / "appendonly.aof").write_text("")
    (directory / "appendonly.aof").chmod(0o644)
    server = EmbeddedRedis(directory)
    try:
        with umask(0):
            url = server.start()
        # When the server rewrites its AOF (a new file), long after it started
        client = redis.Redis.from_url(url)
        client.set("secret", CARD)
        client.bgrewriteaof()
        # BGREWRITEAOF has forked, or scheduled the rewrite, by the time it replies.
        wait_for(lambda: rewrite_done(client), timeout_s=10)
        client.close()
        shown = modes_under(directory)
    finally:
        server.stop()

    # Then everything in it is its owner's alone
    assert {name for name in shown if name != "."} >= {
        "appendonly.aof",
        "redis.conf",
        "redis.log",
        "redis.url",
    }
    assert shown == {name: oct(0o700) if (directory / name).is_dir() else oct(0o600) for name in shown}
