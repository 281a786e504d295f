"""The watchdog's time limits for jobs in threads: raised in the job's thread, with the limit in the
message, never after the job's block has ended, and without rewriting the exception class."""

from __future__ import annotations

import threading
import time

import pytest

from jobs.model.execution import TimeLimitExceeded
from jobs.runtime.watchdog import Watchdog


def _in_thread(target: object) -> dict[str, object]:
    found: dict[str, object] = {}

    def run() -> None:
        try:
            found["returned"] = target()  # type: ignore[operator]
        except BaseException as err:  # noqa: BLE001 - the test reads what was raised
            found["raised"] = err

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    return found


def test_python_code_past_its_limit_is_interrupted_in_its_own_thread() -> None:
    watchdog = Watchdog()

    def busy() -> str:
        with watchdog.limit(0.2, TimeLimitExceeded):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                pass
        return "ran to the end"

    found = _in_thread(busy)
    raised = found.get("raised")
    assert isinstance(raised, TimeLimitExceeded)
    assert str(raised) == "Task exceeded maximum timeout value (0.2 seconds)"
    assert type(raised).__name__ == "TimeLimitExceeded"


def test_a_block_that_ends_in_time_is_never_interrupted_later() -> None:
    watchdog = Watchdog()

    def quick_then_busy() -> str:
        for _ in range(200):
            with watchdog.limit(0.01, TimeLimitExceeded):
                pass
        # Past every limit just set: nothing may land here.
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            pass
        return "not interrupted"

    assert _in_thread(quick_then_busy) == {"returned": "not interrupted"}


def test_the_exception_class_itself_is_left_as_it_was() -> None:
    watchdog = Watchdog()

    def busy() -> None:
        with watchdog.limit(0.05, TimeLimitExceeded):
            time.sleep(0.01)
            while True:
                pass

    _in_thread(busy)
    assert str(TimeLimitExceeded("its own message")) == "its own message"


def test_no_limit_when_the_timeout_is_zero() -> None:
    watchdog = Watchdog()
    with watchdog.limit(0, TimeLimitExceeded):
        time.sleep(0.05)


@pytest.mark.parametrize("threads", [8])
def test_each_thread_gets_its_own_limit(threads: int) -> None:
    watchdog = Watchdog()
    results: list[str] = []
    lock = threading.Lock()

    def job(limit_s: float, busy_s: float) -> None:
        try:
            with watchdog.limit(limit_s, TimeLimitExceeded):
                deadline = time.monotonic() + busy_s
                while time.monotonic() < deadline:
                    time.sleep(0.001)
            outcome = "ended"
        except TimeLimitExceeded:
            outcome = "cut off"
        with lock:
            results.append(f"{limit_s}:{outcome}")

    pairs = [(0.1, 5.0) if n % 2 else (5.0, 0.1) for n in range(threads)]
    running = [threading.Thread(target=job, args=pair) for pair in pairs]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(30)
    assert sorted(results) == sorted(["0.1:cut off"] * (threads // 2) + ["5.0:ended"] * (threads // 2))
