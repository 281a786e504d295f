"""Every command whose reader goes away (`stalwart ... | head`) ends quietly, as a command killed by SIGPIPE.

The reader's end of the pipe is closed before the command starts, so its first
write fails, whatever its size: no race with a pipe buffer that takes it all.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import redis

from jobs import DeadLetterQueue, stats
from tests.conftest import REPO
from tests.integration.test_cli_ids import FIRST, SECOND, an_entry
from tests.workers import STALWART

KILLED_BY_SIGPIPE = 141


def with_reader_gone(*args: str, env: dict[str, str]) -> tuple[int, bytes]:
    """Run ``stalwart ARGS`` writing to a pipe nobody reads; its exit code and standard error."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        run = subprocess.run(
            [*STALWART, *args],
            stdout=writer,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    return run.returncode, run.stderr


@pytest.fixture
def entries(connection: redis.Redis) -> None:
    dlq = DeadLetterQueue(connection)
    dlq.put(an_entry(FIRST))
    dlq.put(an_entry(SECOND))
    stats.incr("signup.sent", connection=connection)


@pytest.mark.usefixtures("entries")
@pytest.mark.parametrize(
    "args",
    [
        ("dlq", "list"),
        ("dlq", "list", "--json"),
        ("dlq", "show", FIRST[:10]),
        ("dlq", "show", FIRST, "--json"),
        ("dlq", "export"),
        ("dlq", "replay", "--all", "--dry-run", "--import", "jobs.demo.billing"),
        ("dlq", "replay", "--all", "--dry-run", "--json", "--import", "jobs.demo.billing"),
        ("stats",),
        ("stats", "--json"),
    ],
    ids=" ".join,
)
def test_a_command_whose_reader_went_away_ends_quietly_as_if_killed_by_sigpipe(
    subprocess_env: dict[str, str], args: tuple[str, ...]
) -> None:
    assert with_reader_gone(*args, env=subprocess_env) == (KILLED_BY_SIGPIPE, b"")


@pytest.mark.parametrize("args", [("--help",), ("dlq", "--help"), ("--version",)], ids=" ".join)
def test_help_and_version_whose_reader_went_away_end_quietly(
    subprocess_env: dict[str, str], args: tuple[str, ...]
) -> None:
    # argparse prints these itself, and ignores a failed write: no traceback, no message
    assert with_reader_gone(*args, env=subprocess_env) == (0, b"")
