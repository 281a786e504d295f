"""`stalwart dlq replay` (issue 13, items 5 and 6): ambiguous entries are replayed only when asked, and an
edited replay changes the fields it names and is audited with what changed, redacted.

Real `stalwart` processes against the real Redis fixture; the entries are real dead jobs of
``tests.ChargeAmount`` against the payment gateway simulator.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time

import pytest
import redis

from jobs import Classification, DeadLetterError, DeadLetterQueue, Worker
from jobs.demo.gateway import Gateway
from tests.conftest import REPO
from tests.sample_jobs import ChargeAmount
from tests.workers import STALWART, stalwart

IMPORT = ("--import", "tests.sample_jobs")
LEFT_OUT_TWO = (
    "left out 2 ambiguous entries: each may have taken effect; verify whether its side effect happened "
    "before replaying it\n(`stalwart dlq list --classification ambiguous --status dead` lists them; "
    "--include-ambiguous replays them too)"
)


def dead_charge(connection: redis.Redis, customer_id: int, step: str, **kwargs: object) -> str:
    """A ChargeAmount job dead-lettered by the gateway's ``step`` (refuse: exhausted; timeout_after:
    ambiguous, the money moved); returns its entry id."""
    Gateway(connection).script(customer_id, step)
    arguments: dict[str, object] = {"amount_cents": 1900, **kwargs}
    handle = ChargeAmount.enqueue(connection=connection, customer_id=customer_id, **arguments)
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    assert DeadLetterQueue(connection).get(handle.id).status == "dead"
    return handle.id


def queued(connection: redis.Redis) -> int:
    return int(connection.llen("rq:queue:default"))


def in_terminal(*args: str, answer: str, env: dict[str, str]) -> tuple[int, str]:
    """Run ``stalwart ARGS`` on a pseudo-terminal, type ``answer`` once it asks ``[y/N]``; returns the exit
    code and everything the terminal showed."""
    main, sub = pty.openpty()
    process = subprocess.Popen(
        [*STALWART, *args], stdin=sub, stdout=sub, stderr=sub, env=env, cwd=REPO, start_new_session=True
    )
    os.close(sub)
    shown = bytearray()
    answered = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the command has exited and closed the terminal
                break
            shown += chunk
            if not answered and b"[y/N]" in shown:
                os.write(main, answer.encode() + b"\n")
                answered = True
        return process.wait(timeout=10), shown.decode().replace("\r\n", "\n")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        os.close(main)


# -- item 5: ambiguous entries -------------------------------------------------------------------


def test_replay_all_leaves_ambiguous_entries_out_and_says_how_many_and_why(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    # Given one entry that certainly did not charge, and two that may have (the gateway timed out after)
    refused = dead_charge(connection, 1, "refuse")
    ambiguous = sorted(
        [dead_charge(connection, 2, "timeout_after"), dead_charge(connection, 3, "timeout_after")]
    )

    dry = stalwart("dlq", "replay", "--all", "--dry-run", *IMPORT, env={**subprocess_env, "COLUMNS": "200"})
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.endswith(f"\n1 dead entry would be replayed\n{LEFT_OUT_TWO}\n")
    assert [line for line in dry.stdout.splitlines() if "tests.ChargeAmount" in line] == [
        line for line in dry.stdout.splitlines() if line.startswith(refused[:8])
    ]

    dry_json = stalwart("dlq", "replay", "--all", "--dry-run", "--json", *IMPORT, env=subprocess_env)
    would = json.loads(dry_json.stdout)
    assert (would["would_replay"], sorted(would["left_out"])) == ([refused], ambiguous)

    real = stalwart("dlq", "replay", "--all", "--yes", *IMPORT, env=subprocess_env)
    assert (real.returncode, real.stdout, real.stderr) == (0, f"replayed 1 entry\n{LEFT_OUT_TWO}\n", "")

    dlq = DeadLetterQueue(connection)
    assert [dlq.get(i).status for i in (refused, *ambiguous)] == ["replayed", "dead", "dead"]
    assert queued(connection) == 1


def test_replay_all_replays_ambiguous_entries_when_asked_for_them(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    refused = dead_charge(connection, 1, "refuse")
    first, second = dead_charge(connection, 2, "timeout_after"), dead_charge(connection, 3, "timeout_after")

    # Without a terminal, the confirmation it would ask for says what is at stake.
    unconfirmed = stalwart("dlq", "replay", "--all", "--include-ambiguous", *IMPORT, env=subprocess_env)
    assert (unconfirmed.returncode, unconfirmed.stderr) == (
        1,
        "stalwart: refusing to replay 3 entries, 2 of them ambiguous (verify their side effects first) "
        "without confirmation; pass --yes\n",
    )

    # A filter on the classification asks for them by name.
    by_filter = stalwart(
        "dlq",
        "replay",
        "--all",
        "--classification",
        "ambiguous",
        "--yes",
        "--json",
        *IMPORT,
        env=subprocess_env,
    )
    assert by_filter.returncode == 0, by_filter.stderr
    shown = json.loads(by_filter.stdout)
    assert (sorted(r["entry"] for r in shown["replayed"]), shown["left_out"]) == (sorted([first, second]), [])

    dlq = DeadLetterQueue(connection)
    assert [dlq.get(i).status for i in (refused, first, second)] == ["dead", "replayed", "replayed"]


def test_include_ambiguous_replays_them_with_the_rest(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    ids = [dead_charge(connection, 1, "refuse"), dead_charge(connection, 2, "timeout_after")]

    run = stalwart("dlq", "replay", "--all", "--include-ambiguous", "--yes", *IMPORT, env=subprocess_env)

    assert (run.returncode, run.stdout) == (0, "replayed 2 entries\n")
    assert [DeadLetterQueue(connection).get(i).status for i in ids] == ["replayed", "replayed"]


def test_replay_all_in_python_leaves_ambiguous_entries_out_unless_asked(connection: redis.Redis) -> None:
    refused = dead_charge(connection, 1, "refuse")
    ambiguous = dead_charge(connection, 2, "timeout_after")
    dlq = DeadLetterQueue(connection)

    dry = dlq.replay_all(dry_run=True)
    assert ([e.id for e in dry], dry.left_out) == ([refused], [ambiguous])
    asked = dlq.replay_all(dry_run=True, include_ambiguous=True)
    assert (sorted(e.id for e in asked), asked.left_out) == (sorted([refused, ambiguous]), [])
    by_filter = dlq.replay_all(dry_run=True, classification=Classification.AMBIGUOUS)
    assert ([e.id for e in by_filter], by_filter.left_out) == ([ambiguous], [])

    done = dlq.replay_all()
    assert ([e.id for e in done], done.left_out) == ([refused], [ambiguous])
    # Naming one entry is asking for it: replay(id) of an ambiguous entry replays it.
    dlq.replay(ambiguous)
    assert [dlq.get(i).status for i in (refused, ambiguous)] == ["replayed", "replayed"]


def test_replaying_one_ambiguous_entry_without_a_terminal_needs_yes(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    entry_id = dead_charge(connection, 2, "timeout_after")
    dlq = DeadLetterQueue(connection)
    before = dlq.get(entry_id)

    refused = stalwart("dlq", "replay", entry_id[:8], *IMPORT, env=subprocess_env)
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        1,
        "",
        f"stalwart: refusing to replay ambiguous entry {entry_id} without confirmation: tests.ChargeAmount "
        "may have taken effect before it failed (GatewayTimeout: read timed out after 10 s); verify whether "
        f"the side effect happened (`stalwart dlq show {entry_id}`), then pass --yes\n",
    )
    assert (dlq.get(entry_id), queued(connection)) == (before, 0)

    confirmed = stalwart("dlq", "replay", entry_id[:8], "--yes", *IMPORT, env=subprocess_env)
    assert confirmed.returncode == 0, confirmed.stderr
    assert dlq.get(entry_id).status == "replayed"


def test_replaying_one_ambiguous_entry_on_a_terminal_asks_and_says_what_to_verify(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    entry_id = dead_charge(connection, 2, "timeout_after")
    dlq = DeadLetterQueue(connection)
    before = dlq.get(entry_id)

    code, shown = in_terminal("dlq", "replay", entry_id, *IMPORT, answer="n", env=subprocess_env)
    assert code == 1, shown
    assert f"Entry {entry_id} is ambiguous: {before.message}" in shown
    assert "Verify whether the side effect happened before replaying it." in shown
    assert shown.endswith(
        "Have you verified that replaying it will not do the side effect twice? Replay it? [y/N] n\n"
        "nothing replayed\n"
    )
    assert (dlq.get(entry_id), queued(connection)) == (before, 0)

    code, shown = in_terminal("dlq", "replay", entry_id, *IMPORT, answer="y", env=subprocess_env)
    assert code == 0, shown
    (job_id,) = dlq.get(entry_id).replays
    assert shown.endswith(f"Replay it? [y/N] y\nreplayed {entry_id} as job {job_id}\n")


# -- item 6: edited replays ----------------------------------------------------------------------

SECRET_BEFORE = "tok-BEFORE-8f3a1c"
SECRET_AFTER = "tok-AFTER-77d2e9"


def test_set_changes_one_field_keeps_the_rest_and_the_audit_shows_the_redacted_diff(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    # Given a charge of the wrong amount, made with a token that has since been rotated
    entry_id = dead_charge(
        connection, 1, "refuse", api_token=SECRET_BEFORE, note="monthly fee", address={"city": "Paris"}
    )

    run = stalwart(
        "dlq",
        "replay",
        entry_id,
        "--set",
        "amount_cents=4900",
        "--set",
        f"api_token={SECRET_AFTER}",
        "--set",
        f"note=fixed amount, token rotated from {SECRET_BEFORE}",
        "--set",
        "address.city=Lyon",
        *IMPORT,
        env=subprocess_env,
    )

    # Then the replay runs with the changed fields and every other argument as it was
    assert run.returncode == 0, run.stderr
    dlq = DeadLetterQueue(connection)
    (job_id,) = dlq.get(entry_id).replays
    assert run.stdout.splitlines() == [
        f"replayed {entry_id} as job {job_id}",
        "  changed amount_cents: 1900 → 4900",
        '  changed api_token: "[redacted]" → "[redacted]"',
        '  changed note: "monthly fee" → "fixed amount, token rotated from [redacted]"',
        '  changed address.city: "Paris" → "Lyon"',
    ]
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    assert dlq.get(entry_id).status == "resolved"
    [charge] = Gateway(connection).ledger()
    assert (charge["customer_id"], charge["amount_cents"]) == (1, 4900)

    # And the audit records the new arguments and each change, with no secret in it
    replayed = [record for record in dlq.get(entry_id).audit if record["action"] == "replay"]
    assert [{k: v for k, v in r.items() if k not in ("at", "by")} for r in replayed] == [
        {
            "action": "replay",
            "result": f"enqueued as job {job_id}",
            "kwargs_edited": True,
            "kwargs": {
                "customer_id": 1,
                "amount_cents": 4900,
                "api_token": "[redacted]",
                "note": "fixed amount, token rotated from [redacted]",
                "address": {"city": "Lyon"},
            },
            "changes": [
                {"field": "amount_cents", "change": "changed", "from": 1900, "to": 4900},
                {"field": "api_token", "change": "changed", "from": "[redacted]", "to": "[redacted]"},
                {
                    "field": "note",
                    "change": "changed",
                    "from": "monthly fee",
                    "to": "fixed amount, token rotated from [redacted]",
                },
                {"field": "address.city", "change": "changed", "from": "Paris", "to": "Lyon"},
            ],
        }
    ]
    shown = stalwart("dlq", "show", entry_id, env=subprocess_env)
    assert shown.returncode == 0, shown.stderr
    assert (
        "      changed amount_cents: 1900 → 4900\n"
        '      changed api_token: "[redacted]" → "[redacted]"\n'
        '      changed note: "monthly fee" → "fixed amount, token rotated from [redacted]"\n'
        '      changed address.city: "Paris" → "Lyon"\n'
        '      arguments: {"customer_id": 1, "amount_cents": 4900, "api_token": "[redacted]", '
        '"note": "fixed amount, token rotated from [redacted]", "address": {"city": "Lyon"}}\n'
    ) in shown.stdout
    as_json = stalwart("dlq", "show", entry_id, "--json", env=subprocess_env)
    audit_keys = connection.lrange(f"stalwart:dlq:audit:{entry_id}", 0, -1)
    for outlet in (run.stdout, shown.stdout, as_json.stdout, b"".join(audit_keys).decode()):
        assert SECRET_AFTER not in outlet and SECRET_BEFORE not in outlet


def test_kwargs_still_replaces_every_argument_and_its_audit_records_the_diff(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    entry_id = dead_charge(connection, 1, "refuse", note="monthly fee")

    run = stalwart(
        "dlq",
        "replay",
        entry_id,
        "--kwargs",
        '{"customer_id": 1, "amount_cents": 4900}',
        *IMPORT,
        "--json",
        env=subprocess_env,
    )

    assert run.returncode == 0, run.stderr
    shown = json.loads(run.stdout)
    assert shown["changes"] == [
        {"field": "amount_cents", "change": "changed", "from": 1900, "to": 4900},
        {"field": "note", "change": "removed", "from": "monthly fee"},
    ]
    assert shown["kwargs"] == {"customer_id": 1, "amount_cents": 4900}
    assert DeadLetterQueue(connection).get(entry_id).audit[-1]["changes"] == shown["changes"]


def test_a_bad_set_is_one_line_and_changes_nothing(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    entry_id = dead_charge(connection, 1, "refuse", address={"city": "Paris"})
    dlq = DeadLetterQueue(connection)
    before = dlq.get(entry_id)
    too_deep = "[" * 33 + "]" * 33

    cases = {
        ("--set", "amout_cents=4900"): (
            1,
            f"stalwart: cannot replay entry {entry_id}: cannot enqueue tests.ChargeAmount: argument "
            "'amout_cents' of tests.ChargeAmount is not accepted by perform() (it takes: customer_id, "
            "amount_cents, api_token, note, address)",
        ),
        ("--set", f"note={too_deep}"): (
            1,
            f"stalwart: cannot replay entry {entry_id}: cannot enqueue tests.ChargeAmount: argument 'note' of "
            "tests.ChargeAmount nests lists or dicts more than 32 levels deep (the limit); pass a flatter "
            "structure, or store it elsewhere and pass its id (or raise STALWART_MAX_PAYLOAD_DEPTH)",
        ),
        ("--set", "amount_cents.value=1"): (
            1,
            f"stalwart: cannot replay entry {entry_id}: cannot set 'amount_cents.value': 'amount_cents' is a "
            "number, not an object; set 'amount_cents' whole instead",
        ),
        ("--set", "billing.city=Lyon"): (
            1,
            f"stalwart: cannot replay entry {entry_id}: cannot set 'billing.city': the arguments have no "
            "'billing' to set a key in; set 'billing' whole (a JSON object)",
        ),
        ("--set", "amount_cents=4900", "--kwargs", '{"customer_id": 1, "amount_cents": 4900}'): (
            1,
            "stalwart: --set changes some arguments and --kwargs replaces them all; use one of them",
        ),
        ("--set", "amount_cents=4900", "--set", "amount_cents=5900"): (
            1,
            "stalwart: --set amount_cents is given twice; set each field once",
        ),
        ("--include-ambiguous",): (
            1,
            "stalwart: --include-ambiguous is for --all; to replay one ambiguous entry, name it (you are "
            "asked to confirm, or pass --yes)",
        ),
        ("--set", "amount_cents"): (
            2,
            "stalwart dlq replay: error: argument --set: 'amount_cents' is not FIELD=VALUE; e.g. --set "
            "amount_cents=4900 or --set note='\"fixed\"'; see `stalwart dlq replay --help`",
        ),
    }
    for args, (code, line) in cases.items():
        run = stalwart("dlq", "replay", entry_id, *args, *IMPORT, env=subprocess_env)
        assert (run.returncode, run.stdout, run.stderr.splitlines()) == (code, "", [line]), args

    bulk = stalwart("dlq", "replay", "--all", "--set", "amount_cents=1", "--yes", *IMPORT, env=subprocess_env)
    assert (bulk.returncode, bulk.stderr) == (
        1,
        "stalwart: --all replays by filters; it takes no entry id, no --kwargs and no --set\n",
    )
    assert (dlq.get(entry_id), queued(connection)) == (before, 0)


def test_a_dry_run_of_one_entry_shows_the_replay_and_changes_nothing(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    entry_id = dead_charge(connection, 2, "timeout_after", api_token=SECRET_BEFORE)
    dlq = DeadLetterQueue(connection)
    before = dlq.get(entry_id)

    plain = stalwart("dlq", "replay", entry_id, "--dry-run", *IMPORT, env=subprocess_env)
    assert (plain.returncode, plain.stderr) == (0, ""), plain.stderr
    edited = stalwart(
        "dlq", "replay", entry_id, "--set", "amount_cents=4900", "--dry-run", *IMPORT, env=subprocess_env
    )

    assert edited.stdout.splitlines() == [
        f"would replay {entry_id} (tests.ChargeAmount) with these changes:",
        "  changed amount_cents: 1900 → 4900",
        '  arguments: {"customer_id": 2, "amount_cents": 4900, "api_token": "[redacted]"}',
        "  it is ambiguous: its job may have taken effect before it failed; verify whether the side effect "
        "happened before replaying it (the replay asks you to confirm, or needs --yes)",
        "nothing changed (--dry-run)",
    ]
    assert (
        plain.stdout.splitlines()[0]
        == f"would replay {entry_id} (tests.ChargeAmount) with its arguments as they are"
    )
    assert (dlq.get(entry_id), queued(connection)) == (before, 0)


def test_an_edited_replay_that_dies_again_keeps_the_edited_arguments_for_the_next_one(
    connection: redis.Redis,
) -> None:
    entry_id = dead_charge(connection, 1, "refuse", note="monthly fee")
    dlq = DeadLetterQueue(connection)

    # When the edited replay dies too (the gateway refuses again)
    Gateway(connection).script(1, "refuse")
    dlq.replay(entry_id, changes={"amount_cents": 4900})
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)

    # Then the entry holds what was last tried, and a plain replay runs that
    again = dlq.get(entry_id)
    assert (again.status, again.kwargs) == (
        "dead",
        {"customer_id": 1, "amount_cents": 4900, "note": "monthly fee"},
    )
    dlq.replay(entry_id)
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    assert [c["amount_cents"] for c in Gateway(connection).ledger()] == [4900]


def test_python_replay_takes_changes_or_kwargs_but_not_both(connection: redis.Redis) -> None:
    entry_id = dead_charge(connection, 1, "refuse", address={"city": "Paris", "zip": "75001"})
    dlq = DeadLetterQueue(connection)

    with pytest.raises(DeadLetterError, match=r"^give either new arguments \(kwargs, --kwargs\) or changes"):
        dlq.replay(entry_id, kwargs={"customer_id": 1, "amount_cents": 1}, changes={"amount_cents": 2})
    assert dlq.get(entry_id).status == "dead"

    dlq.replay(entry_id, changes={"address.zip": "69001", "address.city": "Lyon"})
    audit = dlq.get(entry_id).audit[-1]
    assert audit["kwargs"] == {
        "customer_id": 1,
        "amount_cents": 1900,
        "address": {"city": "Lyon", "zip": "69001"},
    }
    assert audit["changes"] == [
        {"field": "address.city", "change": "changed", "from": "Paris", "to": "Lyon"},
        {"field": "address.zip", "change": "changed", "from": "75001", "to": "69001"},
    ]
