"""Without REDIS_URL, enqueueing and working from anywhere in a project reach the project's one embedded Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.connection.embedded import EmbeddedRedis
from tests.conftest import REPO
from tests.workers import stalwart

APP = """
from jobs import Job


class SendMail(Job):
    queue = "mail"

    def perform(self, to: str) -> str:
        return f"sent to {to}"
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A first project as a new user lays it out: ``shop/myapp.py`` (a job on "mail") and ``shop/scripts/``;
    no REDIS_URL, no STALWART_HOME. Stops every embedded Redis a test left in or above it."""
    root = tmp_path / "shop"
    (root / "scripts").mkdir(parents=True)
    (root / "myapp.py").write_text(APP)
    yield root
    for folder in (root / ".stalwart", tmp_path / ".stalwart", root / "scripts" / ".stalwart"):
        EmbeddedRedis(folder).stop()


def plain_env(*importable: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "STALWART_HOME")}
    env["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in importable), str(REPO)])
    return env


def python(code: str, *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


ENQUEUE = "import myapp; print(myapp.SendMail.enqueue(to='ada@example.com').id)"


def test_a_worker_started_above_the_project_runs_what_was_enqueued_from_inside_it(project: Path) -> None:
    # Given the project's embedded Redis, started from the project's folder
    started = stalwart("redis", "start", env=plain_env(), cwd=project)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    assert (
        started.stderr == f"stalwart: embedded Redis started in {project / '.stalwart'} (the current "
        "directory: no .stalwart or project marker above it)\n"
    )

    # When a job is enqueued from a subdirectory (Python, no REDIS_URL) ...
    enqueued = python(ENQUEUE, cwd=project / "scripts", env=plain_env(project))
    assert enqueued.returncode == 0, enqueued.stderr

    # ... and a worker with no --queue is started from the parent directory
    run = stalwart("worker", "--import", "myapp", "--burst", env=plain_env(project), cwd=project.parent)

    # Then the worker used that same server, and ran the job
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stderr.splitlines()]
    assert lines[0]["msg"] == (
        f"REDIS_URL is not set: using the embedded Redis at {url}, data in {project / '.stalwart'} "
        "(the nearest .stalwart, walking up from the folder of myapp)"
    )
    assert lines[1]["msg"].startswith(
        f"worker started: queues mail (all its jobs' queues); mode fork, burst; Redis {url};"
    )
    assert lines[-1]["msg"].endswith("; ran 1 attempt: 1 succeeded")
    assert not (project.parent / ".stalwart").exists()  # no second server
    assert not (project / "scripts" / ".stalwart").exists()


def test_a_worker_started_first_from_a_subdirectory_starts_the_server_the_project_root_finds(
    project: Path,
) -> None:
    # Given a project marked by its pyproject.toml, and no server yet
    (project / "pyproject.toml").write_text("[project]\nname = 'shop'\nversion = '0'\n")
    expected_home = f"{project / '.stalwart'} (the project root, marked by pyproject.toml, walking up from "

    # When a worker is started from the scripts folder, it starts the project's server
    first = stalwart(
        "worker", "--import", "myapp", "--burst", env=plain_env(project), cwd=project / "scripts"
    )
    assert first.returncode == 0, first.stderr
    said = json.loads(first.stderr.splitlines()[0])["msg"]
    assert said.startswith("REDIS_URL is not set: started an embedded Redis at redis://127.0.0.1:")
    assert said.endswith(f"data in {expected_home}the folder of myapp)")

    # Then an enqueue from the project root and `stalwart redis url` from anywhere below reach the same one
    url = said.split(" at ")[1].split(",")[0]
    enqueued = python(ENQUEUE, cwd=project, env=plain_env(project))
    assert enqueued.returncode == 0, enqueued.stderr
    assert stalwart("redis", "url", env=plain_env(), cwd=project / "scripts").stdout == f"{url}\n"
    second = stalwart("worker", "--import", "myapp", "--burst", env=plain_env(project), cwd=project.parent)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stderr.splitlines()[0])["msg"].startswith(
        f"REDIS_URL is not set: using the embedded Redis at {url}"
    )
    assert json.loads(second.stderr.splitlines()[-1])["msg"].endswith("; ran 1 attempt: 1 succeeded")


def test_enqueue_with_no_redis_url_and_no_server_fails_at_once_in_one_line_and_starts_nothing(
    project: Path,
) -> None:
    code = (
        "import myapp\n"
        "from jobs import ConfigurationError\n"
        "try:\n"
        "    myapp.SendMail.enqueue(to='ada@example.com')\n"
        "except ConfigurationError as err:\n"
        "    print(err)\n"
    )
    run = python(code, cwd=project.parent, env=plain_env(project))

    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"REDIS_URL is not set and no embedded Redis is running in {project / '.stalwart'} (next to myapp: "
        "no .stalwart or project marker above it); set REDIS_URL=redis://HOST:6379/0, or run "
        "`stalwart redis start` (or a worker) in the project"
    ]
    assert not (project / ".stalwart").exists() and not (project.parent / ".stalwart").exists()
