"""Log lines are JSON with a fixed set of fields; RQ's extras (raw job arguments) never get out."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from jobs.telemetry import logs


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.configure("INFO", stream=out)
    yield out
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_carries_time_level_process_and_host(stream: io.StringIO) -> None:
    logging.getLogger("app").warning("disk at %d%%", 91)
    (line,) = lines(stream)
    assert set(line) == {"ts", "level", "pid", "host", "logger", "msg"}
    assert (line["level"], line["logger"], line["msg"]) == ("warning", "app", "disk at 91%")


def test_lines_written_during_a_job_carry_the_job_context(stream: io.StringIO) -> None:
    with logs.job_context(logs.JobContext("req-1", "job-1", "tests.Add", 2)):
        logging.getLogger("app").info("inside")
    (line,) = lines(stream)
    assert (line["request_id"], line["job_id"], line["job"], line["attempt"]) == (
        "req-1",
        "job-1",
        "tests.Add",
        2,
    )


def test_rq_extras_with_job_arguments_are_never_written(stream: io.StringIO) -> None:
    logging.getLogger("rq.worker").error(
        "job failed", extra={"arguments": ["4111-1111"], "kwargs": {"card": "4111-1111"}, "func": "x"}
    )
    text = stream.getvalue()
    assert "4111" not in text
    assert lines(stream)[0]["msg"] == "job failed"
