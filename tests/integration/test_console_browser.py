"""The console in a real browser: Debian's Chromium driven by Playwright, on a console process started by
the test, a real Redis and real dead-letter entries.

It logs in, filters, opens an entry, replays it with edited arguments (a bad edit refused first), counts a
bulk replay then confirms it, discards an entry, reads the audit, and checks that a ``<script>`` and an
``<img onerror>`` in an error message are shown as text, that a form posted from another origin is
refused, and that the browser reported no console error and no CSP violation. The screenshots of the
README are taken on the way: into docs/img/ with ``STALWART_SCREENSHOTS=1`` (to refresh them), else into
the test's temporary directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, sync_playwright

from jobs import Classification, DeadLetterQueue, Worker
from tests.console_client import HOSTILE, OPS, TOKENS, put_entry, running_console
from tests.sample_jobs import SaveReport
from tests.workers import REPO

CHROMIUM = "/usr/bin/chromium"
DOCS_IMAGES = REPO / "docs" / "img"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        yield launched
        launched.close()


@pytest.fixture
def console(subprocess_env: dict[str, str]) -> Iterator[str]:
    env = {**subprocess_env, "STALWART_CONSOLE_TOKENS": TOKENS, "STALWART_CONSOLE_BULK_RATE": "1000"}
    with running_console(env) as base:
        yield base


def watched(browser: Browser) -> tuple[Page, list[str]]:
    """A page whose console errors and warnings (CSP violations among them) and dialogs are collected."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"{message.type}: {message.text}")

    def on_dialog(dialog: Dialog) -> None:
        problems.append(f"dialog: {dialog.message}")  # a script ran
        dialog.dismiss()

    page.on("console", on_console)
    page.on("dialog", on_dialog)
    return page, problems


def fill_the_queue(connection: redis.Redis) -> None:
    """A real dead letter (and the rhythm it leaves), a hostile one, a root cause of three, an ambiguous one."""
    SaveReport.enqueue(connection=connection, month="2026-05")
    Worker(["default"], connection=connection, mode="inprocess").work(burst=True)
    put_entry(connection, "hostile-1", error_type="ValueError", error_message=HOSTILE, seconds_ago=30)
    for n in range(3):
        put_entry(
            connection, f"disk-{n}", error_type="DiskFull", error_message="no space left", seconds_ago=60 + n
        )
    put_entry(
        connection,
        "charge-9",
        error_type="GatewayTimeout",
        error_message="read timed out after the request was sent",
        classification=Classification.AMBIGUOUS,
        seconds_ago=120,
    )


def test_an_operator_works_the_dead_letter_queue_in_a_browser(
    connection: redis.Redis, console: str, browser: Browser, tmp_path: Path
) -> None:
    fill_the_queue(connection)
    dlq = DeadLetterQueue(connection)
    page, problems = watched(browser)
    shots = DOCS_IMAGES if os.environ.get("STALWART_SCREENSHOTS") else tmp_path
    shots.mkdir(exist_ok=True)

    # Log in once
    page.goto(f"{console}/dlq")
    assert page.url.endswith("/login")
    page.fill("#token", OPS)
    page.click("button[type=submit]")
    page.wait_for_url(f"{console}/dlq", timeout=10_000)
    assert "6 matching of 6" in page.inner_text("#count")

    # Filter
    page.fill("input[name=error_type]", "DiskFull")
    page.select_option("select[name=status]", "dead")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**/dlq?*error_type=DiskFull*")
    assert "3 matching of 6" in page.inner_text("#count")
    page.goto(f"{console}/dlq")
    page.screenshot(path=str(shots / "console-dead-letters.png"), full_page=True)

    # The hostile entry: its message is text, nothing ran
    page.click("a.id:text('hostile-1')")
    page.wait_for_url("**/dlq/entry/hostile-1")
    assert page.inner_text("#error") == f"ValueError: {HOSTILE}"
    assert page.locator("main script, main img").count() == 0

    # Replay with a bad edit: refused, nothing changed; then a good one
    page.fill("#changes", "month.day=1")
    page.click("#replay button[type=submit]")
    assert "cannot set 'month.day'" in page.inner_text("#problem")
    assert dlq.get("hostile-1").status == "dead"
    page.fill("#changes", "month=2026-07")
    page.click("#replay button[type=submit]")
    page.wait_for_selector("#notice")
    assert page.inner_text("#notice").startswith("replayed as job ")
    audit = page.inner_text("#audit")
    assert "console:ops" in audit
    assert 'changed month: "2026-06" → "2026-07"' in audit
    assert dlq.get("hostile-1").status == "replayed"

    # Bulk: count first, ambiguous left out, then confirm
    page.goto(f"{console}/dlq?error_type=DiskFull")
    page.click("#bulk button[type=submit]")
    assert "3 dead entries would be replayed" in page.inner_text("#bulk-count")
    assert dlq.len("dead") == 5
    page.screenshot(path=str(shots / "console-bulk-dry-run.png"), full_page=True)
    page.click("#confirm button[type=submit]")
    assert "Replayed 3 entries" in page.inner_text("#bulk-done")
    assert [dlq.get(f"disk-{n}").status for n in range(3)] == ["replayed"] * 3

    # Discard the ambiguous one, with a reason; the audit names the token
    page.goto(f"{console}/dlq/entry/charge-9")
    page.screenshot(path=str(shots / "console-entry.png"), full_page=True)
    page.fill("#reason", "charged by hand, ticket 4411")
    page.click("#discard button[type=submit]")
    page.wait_for_selector("#notice")
    assert page.inner_text("#status") == "discarded"
    assert "console:ops" in page.inner_text("#audit")
    assert "charged by hand, ticket 4411" in page.inner_text("#audit")

    # The other pages
    for path, name in (("/dlq/groups", "root-causes"), ("/queues", "queues"), ("/rhythm", "rhythm")):
        page.goto(console + path)
        page.screenshot(path=str(shots / f"console-{name}.png"), full_page=True)
    assert "tests.SaveReport" in page.inner_text("main")

    # The only console message: the refused edit's page, answered 422 on purpose; no CSP violation
    assert problems == [
        "error: Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    ]


def test_a_form_posted_from_another_origin_is_refused(
    connection: redis.Redis, console: str, browser: Browser
) -> None:
    put_entry(connection, "e1")
    page, _ = watched(browser)
    page.goto(f"{console}/login")
    page.fill("#token", OPS)
    page.click("button[type=submit]")
    page.wait_for_url(f"{console}/dlq", timeout=10_000)

    # Given a page of another origin with a form aimed at the console
    page.set_content(
        f'<form method="post" action="{console}/dlq/entry/e1/discard">'
        '<input name="csrf" value="guessed"><input name="reason" value="spam">'
        '<button type="submit">go</button></form>'
    )
    with page.expect_response(f"{console}/dlq/entry/e1/discard") as answer:
        page.click("button")

    assert answer.value.status == 403
    assert DeadLetterQueue(connection).get("e1").status == "dead"
