"""``stalwart console`` as a real process over HTTP, on a real Redis with real dead-letter entries.

One console serves the module's tests (with two tokens: ``ops`` may operate, ``viewer`` may read); each
test stores its own entries after the per-test flush.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import redis

from jobs import Classification, DeadLetterQueue, Worker, _keys
from jobs.console.web import CSP
from tests.console_client import HOSTILE, OPS, TOKENS, VIEWER, Client, put_entry, running_console
from tests.sample_jobs import SaveReport
from tests.workers import REPO, Workers, stalwart, wait_for


@pytest.fixture
def console_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    return {**subprocess_env, "STALWART_CONSOLE_TOKENS": TOKENS, "STALWART_CONSOLE_BULK_RATE": "1000"}


@pytest.fixture
def console(console_env: dict[str, str]) -> Iterator[str]:
    with running_console(console_env) as base:
        yield base


@pytest.fixture
def ops(console: str) -> Client:
    return Client(console, OPS)


def audit_by(connection: redis.Redis, entry_id: str) -> list[tuple[str, str]]:
    return [(a["action"], a["by"]) for a in DeadLetterQueue(connection).get(entry_id).audit]


# -- the JSON API ---------------------------------------------------------------------------------


def test_a_real_dead_letter_is_listed_and_shown_by_the_api_with_its_arguments_redacted(
    connection: redis.Redis, ops: Client
) -> None:
    # Given a job that really died in a worker, and an entry with a secret argument
    SaveReport.enqueue(connection=connection, month="2026-06")
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    put_entry(
        connection,
        "secret-1",
        kwargs={"month": "2026-07", "api_token": "sk-live-abcdef123456"},
        seconds_ago=60,
    )

    listed = ops.get("/api/dlq?job=tests.SaveReport&status=dead&limit=10")

    assert listed.status == 200
    entries = listed.json()
    assert [e["job"] for e in entries] == ["tests.SaveReport", "tests.SaveReport"]
    assert entries[1]["id"] == "secret-1"
    assert entries[1]["kwargs"] == {"month": "2026-07", "api_token": "[redacted]"}
    assert "sk-live-abcdef123456" not in listed.body
    one = ops.get(f"/api/dlq/{entries[0]['id']}")
    assert one.status == 200
    assert one.json()["history"][0]["error_type"] == "RuntimeError"
    assert ops.get("/api/dlq?classification=ambiguous").json() == []


def test_the_api_answers_401_without_a_token_and_403_to_a_read_token_on_a_post(
    connection: redis.Redis, console: str
) -> None:
    put_entry(connection, "e1")

    assert Client(console).get("/api/dlq").status == 401
    assert Client(console, "not-a-token-at-all-0000").get("/api/dlq").status == 401
    viewer = Client(console, VIEWER)
    assert viewer.get("/api/dlq/e1").status == 200
    refused = viewer.post("/api/dlq/e1/replay")
    assert refused.status == 403
    assert "may only read" in refused.json()["error"]
    assert viewer.post("/api/dlq/e1/discard", body={"reason": "x"}).status == 403
    assert DeadLetterQueue(connection).get("e1").status == "dead"


def test_an_unknown_id_is_a_404_with_a_one_line_error(ops: Client) -> None:
    for answer in (
        ops.get("/api/dlq/nope"),
        ops.post("/api/dlq/nope/replay"),
        ops.post("/api/dlq/nope/discard", body={"reason": "r"}),
    ):
        assert answer.status == 404
        assert answer.json() == {"error": "no dead-letter entry has the id 'nope'"}


def test_bad_edited_arguments_are_a_422_and_nothing_changes(connection: redis.Redis, ops: Client) -> None:
    put_entry(connection, "e1")
    before = DeadLetterQueue(connection).get("e1")

    for body in ({"kwargs": {"month": "2026-06", "nope": 1}}, {"kwargs": [1]}, {"changes": {"month.x": 1}}):
        answer = ops.post("/api/dlq/e1/replay", body=body)
        assert answer.status == 422, body
        assert "\n" not in answer.json()["error"]

    after = DeadLetterQueue(connection).get("e1")
    assert (after.status, after.audit, after.replays) == ("dead", before.audit, [])
    assert connection.llen("rq:queue:default") == 0


def test_a_replay_with_edited_arguments_and_a_discard_are_audited_with_the_tokens_name(
    connection: redis.Redis, ops: Client
) -> None:
    put_entry(connection, "e1")
    put_entry(connection, "e2")

    replayed = ops.post("/api/dlq/e1/replay", body={"kwargs": {"month": "2026-07"}})
    discarded = ops.post("/api/dlq/e2/discard", body={"reason": "customer left"})

    assert replayed.status == 200
    assert replayed.json()["changes"] == [
        {"field": "month", "change": "changed", "from": "2026-06", "to": "2026-07"}
    ]
    assert DeadLetterQueue(connection).get("e1").replays == [replayed.json()["job_id"]]
    assert discarded.status == 200
    assert discarded.json()["status"] == "discarded"
    assert audit_by(connection, "e1")[-1] == ("replay", "console:ops")
    assert audit_by(connection, "e2")[-1] == ("discard", "console:ops")
    # Then neither can be done again
    assert ops.post("/api/dlq/e1/replay").status == 409
    assert ops.post("/api/dlq/e2/discard", body={"reason": "again"}).status == 409


def test_an_ambiguous_entry_is_replayed_only_when_the_caller_says_it_verified_it(
    connection: redis.Redis, ops: Client
) -> None:
    put_entry(connection, "amb", classification=Classification.AMBIGUOUS)

    assert ops.post("/api/dlq/amb/replay").status == 409
    assert DeadLetterQueue(connection).get("amb").status == "dead"
    assert ops.post("/api/dlq/amb/replay", body={"ambiguous_verified": True}).status == 200


def test_a_discard_needs_a_reason_and_a_json_body(connection: redis.Redis, ops: Client) -> None:
    put_entry(connection, "e1")

    assert ops.post("/api/dlq/e1/discard", body={}).status == 422
    assert ops.post("/api/dlq/e1/discard", body={"reason": "  "}).status == 422
    as_text = ops.post("/api/dlq/e1/discard", form={"reason": "x"})
    assert as_text.status == 415
    assert DeadLetterQueue(connection).get("e1").status == "dead"


def test_a_bad_filter_is_a_400_saying_what_is_allowed(ops: Client) -> None:
    answer = ops.get("/api/dlq?status=gone")

    assert answer.status == 400
    assert answer.json()["error"].startswith("status must be one of dead, replayed")
    assert ops.get("/api/dlq?since=yesterday").status == 400
    assert ops.get("/api/dlq?limit=0").status == 400


# -- browsers: login, sessions, CSRF, headers, escaping -------------------------------------------


def test_a_browser_logs_in_once_and_gets_an_httponly_strict_session_cookie(console: str) -> None:
    browser = Client(console)
    assert browser.get("/dlq").status == 303  # to the login page
    assert browser.login("wrong-token-0000000000").status == 401

    answer = browser.login(OPS)

    assert answer.status == 303
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    page = browser.get("/dlq")
    assert page.status == 200
    assert "ops (operate)" in page.body
    # A forged cookie is no session
    forged = Client(console)
    forged.cookie = "stalwart_console=" + browser.cookie.split("=", 1)[1][:-4] + "AAAA"  # type: ignore[union-attr]
    assert forged.get("/dlq").status == 303


def test_every_answer_carries_the_security_headers(
    connection: redis.Redis, console: str, ops: Client
) -> None:
    put_entry(connection, "e1")
    browser = Client(console)
    browser.login(OPS)

    for answer in (
        browser.get("/dlq"),
        browser.get("/dlq/entry/e1"),
        ops.get("/api/dlq"),
        Client(console).get("/api/dlq"),
    ):
        assert answer.headers["Content-Security-Policy"] == CSP
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert CSP == (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def test_a_cross_site_post_is_refused_and_a_form_without_its_csrf_token_too(
    connection: redis.Redis, console: str
) -> None:
    put_entry(connection, "e1")
    browser = Client(console)
    browser.login(OPS)
    csrf = browser.csrf("/dlq/entry/e1")
    form = {"csrf": csrf, "reason": "spam"}

    cross_origin = browser.post(
        "/dlq/entry/e1/discard", form=form, headers={"Origin": "https://evil.example"}
    )
    cross_site = browser.post("/dlq/entry/e1/discard", form=form, headers={"Sec-Fetch-Site": "cross-site"})
    no_token = browser.post("/dlq/entry/e1/discard", form={"reason": "spam"})
    stale = browser.post("/dlq/entry/e1/discard", form={"csrf": "x" * 32, "reason": "spam"})
    api_by_cookie = browser.post("/api/dlq/e1/discard", body={"reason": "spam"})

    assert [a.status for a in (cross_origin, cross_site, no_token, stale, api_by_cookie)] == [403] * 5
    assert DeadLetterQueue(connection).get("e1").status == "dead"
    # The same form from the console's own page goes through
    origin = console.split("/", 3)[:3]
    done = browser.post(
        "/dlq/entry/e1/discard",
        form=form,
        headers={"Origin": "/".join(origin), "Sec-Fetch-Site": "same-origin"},
    )
    assert done.status == 303
    assert audit_by(connection, "e1")[-1] == ("discard", "console:ops")


def test_hostile_strings_from_redis_are_shown_as_text(connection: redis.Redis, console: str) -> None:
    put_entry(connection, "e1", error_type="Boom<b>", error_message=HOSTILE, job="tests.<i>x</i>")
    browser = Client(console)
    browser.login(OPS)

    for page in (browser.get("/dlq"), browser.get("/dlq/entry/e1"), browser.get("/dlq/groups")):
        assert page.status == 200
        assert "<script>" not in page.body
        assert "<img" not in page.body
        assert "<i>x</i>" not in page.body
    entry_page = browser.get("/dlq/entry/e1").body
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in entry_page
    # A link cannot make the page announce something of its own
    spoofed = browser.get("/dlq/entry/e1?done=replayed&job=call-us-at-555").body
    assert "call-us-at-555" not in spoofed
    assert 'id="notice"' not in spoofed


def test_the_list_is_paginated_from_the_indexes_with_filters_kept(
    connection: redis.Redis, console: str
) -> None:
    for n in range(60):
        put_entry(connection, f"p{n:02d}", seconds_ago=n)
    put_entry(connection, "other", job="tests.Add", kwargs={"a": 1, "b": 2})
    browser = Client(console)
    browser.login(OPS)

    first = browser.get("/dlq?job=tests.SaveReport")
    second = browser.get("/dlq?job=tests.SaveReport&page=2")

    assert "60 matching of 61" in first.body
    ids_first = re.findall(r'class="id" href="[^"]*">(p\d\d)<', first.body)
    ids_second = re.findall(r'class="id" href="[^"]*">(p\d\d)<', second.body)
    assert ids_first == [f"p{n:02d}" for n in range(50)]
    assert ids_second == [f"p{n:02d}" for n in range(50, 60)]
    assert 'href="/dlq?job=tests.SaveReport&amp;page=2"' in first.body


def test_root_causes_group_entries_by_job_and_error_type_with_counts(
    connection: redis.Redis, console: str
) -> None:
    for n in range(3):
        put_entry(connection, f"a{n}", error_type="GatewayDown")
    put_entry(connection, "b0", error_type="KeyError")
    put_entry(connection, "c0", job="tests.Add", kwargs={"a": 1, "b": 2}, error_type="GatewayDown")
    browser = Client(console)
    browser.login(OPS)

    page = browser.get("/dlq/groups").body

    rows = re.findall(r'<td class="num">(\d+)</td><td>([^<]+)</td><td>([^<]+)</td>', page)
    assert rows == [
        ("3", "tests.SaveReport", "GatewayDown"),
        ("1", "tests.Add", "GatewayDown"),
        ("1", "tests.SaveReport", "KeyError"),
    ]


def test_a_bulk_replay_counts_first_leaves_ambiguous_out_and_acts_only_when_confirmed(
    connection: redis.Redis, console: str
) -> None:
    for n in range(3):
        put_entry(connection, f"d{n}")
    put_entry(connection, "amb", classification=Classification.AMBIGUOUS)
    browser = Client(console)
    browser.login(OPS)
    csrf = browser.csrf()

    dry = browser.post("/dlq/bulk", form={"csrf": csrf, "job": "tests.SaveReport", "action": "replay"})

    assert dry.status == 200
    assert "3 dead entries would be replayed" in dry.body
    assert "Left out 1 ambiguous entry" in dry.body
    assert DeadLetterQueue(connection).len("dead") == 4
    done = browser.post(
        "/dlq/bulk",
        form={"csrf": csrf, "job": "tests.SaveReport", "action": "replay", "confirm": "yes", "expected": "3"},
    )
    assert "Replayed 3 entries" in done.body
    dlq = DeadLetterQueue(connection)
    assert [dlq.get(f"d{n}").status for n in range(3)] == ["replayed"] * 3
    assert dlq.get("amb").status == "dead"
    assert audit_by(connection, "d0")[-1] == ("replay", "console:ops")


def test_a_bulk_discard_needs_a_reason_and_records_it(connection: redis.Redis, console: str) -> None:
    put_entry(connection, "d0")
    put_entry(connection, "d1", error_type="KeyError")
    browser = Client(console)
    browser.login(OPS)
    csrf = browser.csrf()
    form = {"csrf": csrf, "error_type": "KeyError", "action": "discard", "confirm": "yes"}

    assert browser.post("/dlq/bulk", form=form).status == 422
    done = browser.post("/dlq/bulk", form={**form, "reason": "bad data"})

    assert "Discarded 1 entry" in done.body
    dlq = DeadLetterQueue(connection)
    assert (dlq.get("d0").status, dlq.get("d1").status) == ("dead", "discarded")
    assert dlq.get("d1").audit[-1]["reason"] == "bad data"


def test_links_follow_the_path_prefix_behind_a_proxy(connection: redis.Redis, console: str) -> None:
    put_entry(connection, "e1")
    browser = Client(console)
    browser.login(OPS)

    page = browser.get("/dlq", headers={"X-Forwarded-Prefix": "/stalwart"})
    prefixed = browser.get("/stalwart/dlq", headers={"X-Forwarded-Prefix": "/stalwart"})

    assert 'href="/stalwart/dlq/entry/e1"' in page.body
    assert 'href="/stalwart/static/console.css"' in page.body
    assert prefixed.status == 200
    assert browser.get("/dlq", headers={"X-Forwarded-Prefix": "//evil.example"}).status == 400


def test_the_queues_page_metrics_and_the_rhythm_are_served(
    connection: redis.Redis, console: str, ops: Client
) -> None:
    SaveReport.enqueue(connection=connection, month="2026-06")
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    browser = Client(console)
    browser.login(OPS)

    queues = browser.get("/queues")
    rhythm = browser.get("/rhythm")
    scraped = ops.get("/metrics")

    assert queues.status == 200
    assert "<td>default</td>" in queues.body
    assert "dead: 1" in queues.body
    assert rhythm.status == 200
    assert "<h2>tests.SaveReport</h2>" in rhythm.body
    assert '<rect class="dead_lettered"' in rhythm.body
    assert scraped.status == 200
    assert 'stalwart_dead_letter_entries{status="dead"} 1' in scraped.body
    assert Client(console).get("/metrics").status == 401


# -- serving ---------------------------------------------------------------------------------------


def test_a_remote_bind_without_tokens_is_a_one_line_error(subprocess_env: dict[str, str]) -> None:
    result = stalwart("console", "--host", "0.0.0.0", env=subprocess_env)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "STALWART_CONSOLE_TOKENS is not set" in result.stderr
    assert result.stdout == ""


def test_without_tokens_the_console_answers_only_requests_addressed_to_loopback(
    connection: redis.Redis, subprocess_env: dict[str, str]
) -> None:
    put_entry(connection, "e1")
    with running_console(subprocess_env) as base:
        local = Client(base)
        assert local.get("/api/dlq/e1").status == 200
        rebound = local.get("/api/dlq/e1", headers={"Host": "attacker.example"})
        assert rebound.status == 421
        assert (
            local.post(
                "/api/dlq/e1/discard", body={"reason": "r"}, headers={"Origin": "http://attacker.example"}
            ).status
            == 403
        )
        assert local.post("/api/dlq/e1/discard", body={"reason": "done by hand"}).status == 200
    assert DeadLetterQueue(connection).get("e1").audit[-1]["by"].startswith("console@")


def test_bad_tokens_are_refused_at_start_naming_the_variable(subprocess_env: dict[str, str]) -> None:
    result = stalwart("console", env={**subprocess_env, "STALWART_CONSOLE_TOKENS": "alice:admin:short"})

    assert result.returncode == 1
    assert "STALWART_CONSOLE_TOKENS entry 1" in result.stderr


def test_the_library_and_the_cli_work_without_the_console_extra(subprocess_env: dict[str, str]) -> None:
    # Given starlette cannot be imported (as without the extra)
    code = (
        "import sys; sys.modules['starlette'] = None; import jobs, jobs.dead_letter, jobs.stats\n"
        "from jobs.cli import main; sys.exit(main(['console']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        env=subprocess_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert result.stderr.strip().endswith("pip install 'stalwart[console]'")
    assert result.stderr.count("\n") == 1


def test_a_console_served_under_a_root_path_builds_every_link_from_it(
    connection: redis.Redis, console_env: dict[str, str]
) -> None:
    put_entry(connection, "e1")
    with running_console(console_env, "--root-path", "/stalwart") as base:
        assert base.endswith("/stalwart")
        browser = Client(base)
        login = browser.login(OPS)
        assert login.headers["Location"] == "/stalwart/dlq"
        assert "Path=/stalwart/" in login.headers["Set-Cookie"]
        page = browser.get("/dlq")
        stripped = Client(base.removesuffix("/stalwart"))  # a proxy that strips the prefix
        stripped.cookie = browser.cookie
        assert 'href="/stalwart/dlq/entry/e1"' in stripped.get("/dlq").body

    assert 'href="/stalwart/dlq/entry/e1"' in page.body
    assert 'action="/stalwart/dlq/bulk"' in page.body


def test_an_opaque_origin_is_refused_unless_the_browser_says_same_origin(
    connection: redis.Redis, console: str
) -> None:
    put_entry(connection, "e1")
    browser = Client(console)
    browser.login(OPS)
    form = {"csrf": browser.csrf("/dlq/entry/e1"), "reason": "spam"}

    refused = browser.post("/dlq/entry/e1/discard", form=form, headers={"Origin": "null"})
    assert refused.status == 403
    assert DeadLetterQueue(connection).get("e1").status == "dead"
    allowed = browser.post(
        "/dlq/entry/e1/discard", form=form, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    )
    assert allowed.status == 303


def test_the_queues_page_counts_the_workers_alive(
    connection: redis.Redis, console: str, workers: Workers
) -> None:
    workers.start()
    wait_for(lambda: connection.keys(f"{_keys.worker_alive('')}*"))
    browser = Client(console)
    browser.login(OPS)

    page = browser.get("/queues").body

    assert "<h2>Workers alive: 1</h2>" in page
    name = _text(connection.keys(f"{_keys.worker_alive('')}*")[0]).removeprefix(_keys.worker_alive(""))
    assert f"<li>{name}</li>" in page


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
