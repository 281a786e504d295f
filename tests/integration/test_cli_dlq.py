"""`stalwart dlq ...` in a subprocess: the same behaviour as the Python API, readable and scriptable."""

from __future__ import annotations

import json
from pathlib import Path

import redis

from jobs import DeadLetterQueue, Worker
from tests.integration.test_cli import stalwart
from tests.sample_jobs import ChargeCard, Recorder


def dead_recorders(connection: redis.Redis, *order_ids: int) -> list[str]:
    handles = [Recorder.enqueue(connection=connection, order_id=n) for n in order_ids]
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    return [h.id for h in handles]


def test_list_shows_a_table_and_show_tells_the_whole_story(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    (entry_id,) = dead_recorders(connection, 7)

    listing = stalwart("dlq", "list", env={**subprocess_env, "COLUMNS": "250"})
    assert listing.returncode == 0, listing.stderr
    (row,) = [line for line in listing.stdout.splitlines() if line.startswith(entry_id[:8])]
    assert "tests.Recorder" in row and "LookupError: order 7 not found" in row and "non_retryable" in row
    assert "1 shown of 1 in the dead-letter queue" in listing.stdout

    shown = stalwart("dlq", "show", entry_id, env=subprocess_env)
    assert shown.returncode == 0, shown.stderr
    assert f"tests.Recorder (job {entry_id}, attempt 1/1) failed while running tests.Recorder" in shown.stdout
    assert "Traceback (most recent call last)" in shown.stdout
    assert "dead-letter: dead" in shown.stdout


def test_replay_and_discard_from_the_command_line(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    first, second = dead_recorders(connection, 1, 2)

    replayed = stalwart(
        "dlq", "replay", first, "--import", "tests.sample_jobs", "--by", "ops", "--json", env=subprocess_env
    )
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["entry"] == first

    discarded = stalwart("dlq", "discard", second, "--reason", "duplicate order", env=subprocess_env)
    assert (discarded.returncode, discarded.stdout) == (0, f"discarded {second}: duplicate order\n")

    dlq = DeadLetterQueue(connection)
    assert (dlq.get(first).status, dlq.get(second).status) == ("replayed", "discarded")
    assert dlq.get(first).audit[-1]["by"] == "ops"


def test_bad_input_is_one_line_and_changes_nothing(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    (entry_id,) = dead_recorders(connection, 3)
    dlq = DeadLetterQueue(connection)
    before = dlq.get(entry_id)

    cases = {
        ("dlq", "show", "no-such-id"): (
            1,
            "stalwart: no dead-letter entry has the id 'no-such-id'; `stalwart dlq list` shows the ids",
        ),
        ("dlq", "replay", entry_id, "--import", "tests.sample_jobs", "--kwargs", '{"order": 3}'): (
            1,
            f"stalwart: cannot replay entry {entry_id}: cannot enqueue tests.Recorder: argument 'order' of "
            "tests.Recorder is not accepted by perform() (it takes: order_id, note)",
        ),
        ("dlq", "replay", entry_id, "--kwargs", "{not json"): (
            1,
            "stalwart: --kwargs is not JSON (Expecting property name enclosed in double quotes: line 1 "
            "column 2 (char 1)); e.g. --kwargs '{\"order_id\": 7}'",
        ),
        ("dlq", "replay", entry_id): (
            1,
            f"stalwart: cannot replay entry {entry_id}: job 'tests.Recorder' is not registered here; pass "
            "--import MODULE (the module that defines it) so the replay can be checked",
        ),
        ("dlq", "list", "--since", "last tuesday"): (
            2,
            "stalwart dlq list: error: argument --since: 'last tuesday' is not a time; use ISO 8601 "
            "(2026-11-27T10:00) or an age such as 15m, 2h, 7d; see `stalwart dlq list --help`",
        ),
        ("dlq", "discard", entry_id): (
            2,
            "stalwart dlq discard: error: the following arguments are required: --reason; "
            "see `stalwart dlq discard --help`",
        ),
        ("dlq", "replay", "--all", "--import", "tests.sample_jobs"): (
            1,
            "stalwart: refusing to replay 1 entry without confirmation; pass --yes",
        ),
    }
    for args, (code, line) in cases.items():
        run = stalwart(*args, env=subprocess_env)
        assert (run.returncode, run.stderr.splitlines()) == (code, [line]), args

    assert dlq.get(entry_id) == before
    assert int(connection.llen("rq:queue:default")) == 0


def test_bulk_replay_dry_run_then_for_real(connection: redis.Redis, subprocess_env: dict[str, str]) -> None:
    ids = dead_recorders(connection, 1, 2, 3)

    dry = stalwart(
        "dlq",
        "replay",
        "--all",
        "--job",
        "tests.Recorder",
        "--dry-run",
        "--json",
        "--import",
        "tests.sample_jobs",
        env=subprocess_env,
    )
    assert dry.returncode == 0, dry.stderr
    assert sorted(json.loads(dry.stdout)["would_replay"]) == sorted(ids)
    assert DeadLetterQueue(connection).len("dead") == 3

    real = stalwart(
        "dlq",
        "replay",
        "--all",
        "--job",
        "tests.Recorder",
        "--yes",
        "--import",
        "tests.sample_jobs",
        env=subprocess_env,
    )
    assert (real.returncode, real.stdout) == (0, "replayed 3 entries\n")
    assert DeadLetterQueue(connection).len("replayed") == 3


def test_export_writes_redacted_json_lines(
    connection: redis.Redis, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    handle = ChargeCard.enqueue(connection=connection, customer_id=5, card="ok", api_token="tok-SECRET")
    # A forged payload with a secret-looking argument: its entry keeps it, exports never show it.
    connection.hset(f"rq:job:{handle.id}", "description", "x")
    Worker(["billing"], connection=connection, mode="inprocess").work(burst=True)
    dead_recorders(connection, 9)

    out = tmp_path / "dlq.jsonl"
    run = stalwart("dlq", "export", "--output", str(out), env=subprocess_env)

    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["job"] for line in lines] == ["tests.Recorder"]
    assert lines[0]["audit"][0]["action"] == "dead-letter"
    assert "tok-SECRET" not in out.read_text()
