"""People's terminals (issue 11): what comes out of Redis is text, and a mistake is one line.

Error messages, job names, request ids and counter names are written by
applications, by callers (an ``X-Request-ID`` header) or by anyone who can write
to Redis. ``stalwart dlq list|show`` and ``stalwart stats`` must print them as
text: rich markup in them is not interpreted (no crash, no hyperlink), and
terminal escape sequences in them never reach the terminal.

The commands run as real subprocesses, on a pipe and under a pseudo-terminal
(rich takes its terminal code path only when standard output is a tty).
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest
import redis

from jobs import DeadLetterQueue, Worker, request_context, stats
from tests.conftest import REPO
from tests.hardening.trouble_jobs import TroubleFails
from tests.workers import STALWART, stalwart

CLEAR_SCREEN = b"\x1b[2J"  # ED 2: erases the whole screen
SET_TITLE = b"\x1b]0;"  # OSC 0: sets the window title (ends with BEL)
HYPERLINK = b"\x1b]8;"  # OSC 8: a clickable link (rich writes one for a [link=...] style)
LINK_MARKUP = "[link=http://evil.example]click[/link]"

# Only what an attacker's data carries; rich's own styling (\x1b[1m ... \x1b[0m) is not in this list.
DATA_SEQUENCES = (CLEAR_SCREEN, SET_TITLE, HYPERLINK)


@pytest.fixture
def terminal_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    """The environment of a person's terminal: colours on, a wide window (so no cell is wrapped)."""
    env = {**subprocess_env, "TERM": "xterm-256color", "COLUMNS": "250", "LINES": "50"}
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        env.pop(name, None)
    return env


def in_terminal(
    *args: str, env: dict[str, str], timeout_s: float = 60, columns: int = 250
) -> tuple[int, bytes]:
    """Run ``stalwart ARGS`` with a pseudo-terminal (``columns`` wide) as its standard input, output and error.

    Returns the exit code and every byte the terminal received (stdout and stderr, as a person sees them).
    """
    main, sub = pty.openpty()
    fcntl.ioctl(sub, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen(
        [*STALWART, *args], stdin=sub, stdout=sub, stderr=sub, env=env, cwd=REPO, start_new_session=True
    )
    os.close(sub)
    received = bytearray()
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: every writer of the terminal has closed it
                break
            if not chunk:
                break
            received += chunk
        return process.wait(timeout=10), bytes(received)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        os.close(main)


def dead_entries(connection: redis.Redis, *messages: str, request_id: str | None = None) -> list[str]:
    """Dead-letter one TroubleFails job per message (in this process); returns the entry ids."""
    handles = []
    for message in messages:
        if request_id is None:
            handles.append(TroubleFails.enqueue(connection=connection, message=message))
        else:
            with request_context(request_id):
                handles.append(TroubleFails.enqueue(connection=connection, message=message))
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    dlq = DeadLetterQueue(connection)
    assert [dlq.get(h.id).status for h in handles] == ["dead"] * len(handles)
    return [h.id for h in handles]


def leaks(output: bytes) -> list[str]:
    """Which of the data's own escape sequences reached the output."""
    return [repr(sequence) for sequence in DATA_SEQUENCES if sequence in output]


def test_dlq_list_shows_an_error_message_with_square_brackets_as_text(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    # Given a job that failed with an error message quoting a URL path in square brackets
    (entry_id,) = dead_entries(connection, "GET [/api/v1/charge] failed")

    # When a person lists the dead-letter queue
    piped = stalwart("dlq", "list", env={**subprocess_env, "COLUMNS": "250"})

    # Then the listing is shown, with the brackets as text (rich's markup parser is not given the message)
    assert piped.returncode == 0, piped.stderr[-300:]
    assert piped.stderr == ""
    (row,) = [line for line in piped.stdout.splitlines() if entry_id[:8] in line]  # ids shown abbreviated
    assert "RuntimeError: GET [/api/v1/charge] failed" in row


def test_dlq_list_in_a_terminal_shows_markup_in_an_error_message_as_text_not_as_a_hyperlink(
    connection: redis.Redis, terminal_env: dict[str, str]
) -> None:
    (entry_id,) = dead_entries(connection, f"see {LINK_MARKUP}")

    code, output = in_terminal("dlq", "list", env=terminal_env)

    assert code == 0, output.decode(errors="replace")
    assert entry_id[:8].encode() in output
    assert HYPERLINK not in output  # no clickable link to http://evil.example
    assert f"RuntimeError: see {LINK_MARKUP}".encode() in output, output.decode(errors="replace")


@pytest.mark.parametrize("command", ["list", "show"])
def test_escape_sequences_in_an_error_message_never_reach_the_terminal(
    connection: redis.Redis, terminal_env: dict[str, str], command: str
) -> None:
    # Given a job that failed with an exception whose message carries terminal control sequences
    (entry_id,) = dead_entries(connection, "boom \x1b[2J\x1b]0;title\x07 done")

    # When a person lists the dead-letter queue, or shows the entry, in a terminal
    code, output = in_terminal("dlq", command, *([entry_id] if command == "show" else []), env=terminal_env)

    # Then the entry is shown, but the screen is not cleared and the window title is not set
    assert code == 0, output.decode(errors="replace")
    assert entry_id[:8].encode() in output and b"boom" in output
    assert leaks(output) == []


def test_a_request_id_with_escape_sequences_never_reaches_the_terminal(
    connection: redis.Redis, terminal_env: dict[str, str]
) -> None:
    # Given a job enqueued under a request id taken from a caller's X-Request-ID header
    (entry_id,) = dead_entries(connection, "failed", request_id="\x1b]0;pwned\x07req-7")

    # When a person shows its dead-letter entry in a terminal
    code, output = in_terminal("dlq", "show", entry_id, env=terminal_env)

    # Then the request id is shown as text: the window title is not set to "pwned"
    assert code == 0, output.decode(errors="replace")
    assert b"req-7" in output
    assert leaks(output) == []


def test_a_job_name_with_escape_sequences_and_markup_is_shown_as_text_by_dlq_list_show_and_stats(
    connection: redis.Redis, terminal_env: dict[str, str]
) -> None:
    # Given a dead-letter entry, and per-minute statistics, whose job name carries a control sequence
    # and rich markup (written to Redis by hand: whatever Job's option checks allow, Redis holds text)
    evil = f"hardening.\x1b[2Jevil{LINK_MARKUP}"
    (entry_id,) = dead_entries(connection, "failed")
    dlq = DeadLetterQueue(connection)
    real = dlq.get(entry_id)
    dlq.put(dataclasses.replace(real, job=evil), previous=real)
    # stats.py keeps counts in the hash "stalwart:stats:<minute>", field "<job>|<metric>".
    minute = int(time.time() // 60) * 60
    connection.hincrby(f"stalwart:stats:{minute}", f"{evil}|succeeded", 1)
    stats.incr(f"signups\x1b]0;pwned\x07{LINK_MARKUP}", connection=connection)  # an application counter

    problems = []
    for args in (("dlq", "list"), ("dlq", "show", entry_id), ("stats",)):
        code, output = in_terminal(*args, env=terminal_env)
        shown = output.decode(errors="replace")
        if code != 0:
            problems.append(f"{' '.join(args)}: exit {code}: {shown[-300:]}")
            continue
        if leaks(output):
            problems.append(f"{' '.join(args)}: {leaks(output)} reached the terminal")
        if "evil" not in shown or LINK_MARKUP not in shown:
            problems.append(f"{' '.join(args)}: the job name is not shown as text")
    assert not problems, "\n".join(problems)


# Each is a command a person may well type, and each failed with a Python traceback.
MISTAKES = {
    "an age too large for a date": (("dlq", "list", "--since", "99999999999d"), "99999999999d"),
    "an age before year 1": (("dlq", "list", "--since", "999999d"), "999999d"),
    "stats, an age too large for a date": (("stats", "--since", "99999999999d"), "99999999999d"),
    "a misspelt Redis URL option": (("dlq", "list"), "socket_timout"),
    "archive to a directory": (("dlq", "archive", "--older-than", "0s", "--to", "{tmp}"), "{tmp}"),
    "archive under a regular file": (
        ("dlq", "archive", "--older-than", "0s", "--to", "{tmp}/a-file/archive.jsonl"),
        "{tmp}/a-file",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_mistake_on_the_command_line_is_one_line_saying_what_is_wrong_not_a_traceback(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path, mistake: str
) -> None:
    # Given one dead entry (so that archive has something to write) and a regular file in tmp_path
    (entry_id,) = dead_entries(connection, "failed")
    (tmp_path / "a-file").write_text("not a folder\n")
    args, named = MISTAKES[mistake]
    args = tuple(a.format(tmp=tmp_path) for a in args)
    env = dict(subprocess_env)
    if "socket_timout" in named:
        env["REDIS_URL"] = subprocess_env["REDIS_URL"] + "?socket_timout=5"

    run = stalwart(*args, env=env)

    # Then: a non-zero exit, and stderr is one line, from stalwart, naming what is wrong
    assert "Traceback" not in run.stderr, run.stderr[-600:]
    assert run.returncode != 0
    (line,) = run.stderr.splitlines()
    assert line.startswith("stalwart")
    assert named.format(tmp=tmp_path) in line
    assert DeadLetterQueue(connection).get(entry_id).status == "dead"  # and nothing changed


# More of the same class, found by trying each command with bad input: each was a traceback, a Redis
# error, or was quietly accepted (a negative --limit listed everything).
MORE_MISTAKES = {
    "a negative limit": (("dlq", "list", "--limit", "-5"), "-5"),
    "a limit Redis cannot take": (
        ("dlq", "export", "--limit", "99999999999999999999"),
        "99999999999999999999",
    ),
    "a rate that is not a number": (("dlq", "replay", "--all", "--yes", "--rate", "nan"), "nan"),
    "an infinite rate": (("dlq", "replay", "--all", "--yes", "--rate", "inf"), "inf"),
    "an empty queue name": (("dlq", "sweep", "--queue", ""), "--queue"),
    "arguments nested too deeply": (("dlq", "replay", "{entry}", "--kwargs", "[" * 100_000), "--kwargs"),
    "export to a directory": (("dlq", "export", "--output", "{tmp}"), "{tmp}"),
    "export under a regular file": (("dlq", "export", "--output", "{tmp}/a-file/out.jsonl"), "{tmp}/a-file"),
}


@pytest.mark.parametrize("mistake", list(MORE_MISTAKES))
def test_more_mistakes_on_the_command_line_are_one_line_saying_what_is_wrong(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path, mistake: str
) -> None:
    (entry_id,) = dead_entries(connection, "failed")
    (tmp_path / "a-file").write_text("not a folder\n")
    args, named = MORE_MISTAKES[mistake]
    args = tuple(a.format(tmp=tmp_path, entry=entry_id) for a in args)

    run = stalwart(*args, env=subprocess_env)

    assert "Traceback" not in run.stderr, run.stderr[-600:]
    assert run.returncode != 0
    (line,) = run.stderr.splitlines()
    assert line.startswith("stalwart")
    assert named.format(tmp=tmp_path) in line
    assert DeadLetterQueue(connection).get(entry_id).status == "dead"


def test_a_listing_piped_into_a_reader_that_stops_early_ends_quietly(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    # Given more dead-letter entries than a pipe holds (its buffer is 64 KB; each line is about 2 KB)
    dead_entries(connection, *(f"failure {n}" for n in range(100)))

    # When `stalwart dlq list --json | head -1` reads one line and goes away
    process = subprocess.Popen(
        [*STALWART, "dlq", "list", "--json", "--limit", "1000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=subprocess_env,
        cwd=REPO,
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read()
    code = process.wait(timeout=60)

    # Then it stops with a shell's "killed by SIGPIPE" status and says nothing: no BrokenPipeError
    assert first.startswith(b"{")
    assert (code, stderr) == (141, b"")
