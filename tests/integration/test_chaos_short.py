"""A short chaos run (the full one is `make chaos`): nothing lost, nobody charged twice, one state per job."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.run import run


# Faster shapes get more jobs, so that the run lasts long enough for every event (fill, restart, stall).
@pytest.mark.parametrize(
    ("options", "jobs"),
    [((), 150), (("--threads", "4"), 600), (("--processes", "2", "--threads", "2"), 900)],
    ids=["forking", "threads", "pool"],
)
def test_under_kills_a_stall_a_full_redis_and_a_restart_every_job_ends_once_and_nobody_is_charged_twice(
    tmp_path: Path, options: tuple[str, ...], jobs: int
) -> None:
    report = run(
        jobs=jobs, seed=11, kill_every_s=(1.0, 2.0), timeout_s=120, home=tmp_path, worker_options=options
    )

    assert report.lost == 0, "\n".join(report.lines())
    assert report.double_charges == 0, "\n".join(report.lines())
    assert sum(report.outcomes.values()) == jobs
    assert set(report.outcomes) <= {"succeeded", "negative", "dead_lettered"}
    assert report.two_states == 0, "\n".join(report.lines())
    assert report.outcomes["dead_lettered"] == sum(report.dead_lettered.values())
    assert report.redis_restarts == 1 and report.worker_kills >= 1
    assert report.worker_stalls == 1 and report.redis_full_s > 0
