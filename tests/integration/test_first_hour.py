"""The README's first-job walkthrough, followed as a new user would: the built wheel in a fresh venv, a new
project outside this checkout, and the README's own files and commands, from two different places.

Everything the user does comes from README.md's "Your first job" section, in its order, so this fails
when the README drifts from what the product does: each block after a ``<!-- file: PATH -->`` marker is
written to PATH, each line of a ```sh block is run as written (by bash, in a new user's environment with
the venv activated), and a ```text block is what the command just before it prints. Three things are
not run as written: the venv and the ``pip install 'stalwart[...]'`` line, which the ``user_venv``
fixture does once with the wheel in stalwart's place (the same extras and packages); and the entry id,
which the README writes as a sample and the user copies from what ``stalwart dlq list`` printed.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jobs.connection.embedded import EmbeddedRedis
from tests.conftest import REPO
from tests.docs.markdown import Page
from tests.integration.installed import new_venv, user_environment

SECTION = "## Your first job"
SHELL = ("sh", "bash", "shell", "console")
# The README's one shell line that makes a venv, and its one that installs stalwart: the fixture does both.
VENV = re.compile(r"^python3 -m venv\b")
INSTALL = re.compile(r"^pip install\b.*\bstalwart\[")
# How the README writes an entry id the user copies: the first 8 characters, as `dlq list` shows them.
SAMPLE_ID = re.compile(r"\b[0-9a-f]{8}\b")
COMMAND_TIMEOUT_S = 120


@dataclass(frozen=True)
class Step:
    """One thing the walkthrough has the user do: write a file, run a command, or see what it printed."""

    kind: str  # "file", "command" or "output"
    text: str
    path: str = ""


def walkthrough(readme: Path = REPO / "README.md") -> list[Step]:
    """The steps of the README's first-job section, in order."""
    page = Page.read(readme)
    lines = readme.read_text().splitlines()
    start = lines.index(SECTION) + 1
    end = next((n for n in range(start, len(lines)) if lines[n].startswith("## ")), len(lines))
    steps = []
    for block in page.blocks:
        if not start < block.line <= end:
            continue
        marker = re.fullmatch(r"file:\s*(\S+)", block.marker or "")
        if marker:
            steps.append(Step("file", block.code, marker.group(1)))
        elif block.language in SHELL:
            for line in block.code.replace("\\\n", " ").splitlines():
                if line.strip() and not line.strip().startswith("#"):
                    steps.append(Step("command", line.strip()))
        elif block.language == "text":
            steps.append(Step("output", block.code))
        else:
            pytest.fail(
                f"README.md:{block.line}: a walkthrough block that is neither a file, a command nor an output"
            )
    return steps


def words(command: str) -> list[str]:
    """A command line as its words, its comment left out."""
    return shlex.split(command, comments=True)


def normalized(text: str) -> str:
    """``text`` with each run of white space one space: the README wraps long output lines."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def user_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The venv the README's first lines make, with what its ``pip install`` line installs: the wheel in
    stalwart's place, with the same extras, and the same other packages."""
    (install,) = [s.text for s in walkthrough() if s.kind == "command" and INSTALL.match(s.text)]
    requirements = [re.sub(r"^stalwart(?=\[)", str(wheel), requirement) for requirement in words(install)[2:]]
    assert requirements != words(install)[2:], install
    return new_venv(tmp_path_factory.mktemp("user") / ".venv", *requirements, with_pip=True)


@dataclass(frozen=True)
class Places:
    """Where the user runs each kind of command: setting up the project (``mkdir``, ``pip``, ``pytest``)
    in its folder; ``python SCRIPT`` (with the script there), ``stalwart redis`` and ``stalwart dlq`` in
    ``app``; ``stalwart worker`` in ``worker``."""

    project: Path
    app: Path
    worker: Path

    def of(self, command: str) -> Path:
        """Where ``command`` runs."""
        program = [w for w in words(command) if not re.match(r"^[A-Z_][A-Z0-9_]*=", w)]
        if program[:2] == ["stalwart", "worker"]:
            return self.worker
        if program[0] == "stalwart" or (program[0] == "python" and program[1].endswith(".py")):
            return self.app
        return self.project


@dataclass
class Transcript:
    """What each command printed, in order, by the command as run (its comment left out)."""

    ran: list[tuple[str, subprocess.CompletedProcess[str]]] = field(default_factory=list)

    def one(self, pattern: str) -> subprocess.CompletedProcess[str]:
        """The result of the one command matching ``pattern`` (a regular expression, whole command)."""
        found = [result for command, result in self.ran if re.fullmatch(pattern, command)]
        assert len(found) == 1, f"{len(found)} commands match {pattern!r}: {[c for c, _ in self.ran]}"
        return found[0]


def follow(steps: list[Step], venv: Path, places: Places) -> Transcript:
    """Do what ``steps`` say, as the user would; every command must succeed."""
    env = user_environment(venv)
    scripts = {words(s.text)[1] for s in steps if s.kind == "command" and words(s.text)[0] == "python"}
    (sample,) = {found for s in steps if s.kind == "command" for found in SAMPLE_ID.findall(s.text)}
    copied: str | None = None  # the id the user copies from `dlq list`
    transcript = Transcript()
    for step in steps:
        if step.kind == "file":
            target = (places.app if step.path in scripts else places.project) / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text)
        elif step.kind == "output":
            command, result = transcript.ran[-1]
            shown = step.text
            if copied is not None:
                shown = re.sub(rf"\b{sample}-[0-9a-f-]{{27}}\b", copied_full(result.stdout, copied), shown)
            assert normalized(shown) in normalized(result.stdout), f"{command}:\n{result.stdout}"
        elif not (VENV.match(step.text) or INSTALL.match(step.text)):
            command = step.text
            if sample in command:
                assert copied is not None, f"{command}: an id is used before `stalwart dlq list` shows one"
                command = command.replace(sample, copied)
            cwd = places.of(command)
            result = subprocess.run(
                ["bash", "-c", command],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
            )
            assert result.returncode == 0, f"in {cwd}: {command}\n{result.stdout}\n{result.stderr}"
            transcript.ran.append((" ".join(words(command)), result))
            if words(command) == ["stalwart", "dlq", "list"] and copied is None:
                copied = rows(result.stdout)[0][0]
    return transcript


def copied_full(output: str, prefix: str) -> str:
    """The whole id that starts with ``prefix`` in ``output``."""
    (whole,) = set(re.findall(rf"\b{prefix}-[0-9a-f-]{{27}}\b", output))
    return whole


def rows(listing: str) -> list[list[str]]:
    """The rows of a ``stalwart dlq list`` table (columns are two or more spaces apart)."""
    lines = listing.splitlines()
    assert lines[0].split()[:2] == ["id", "failed"], listing
    assert re.fullmatch(r"\d+ shown of \d+ in the dead-letter queue; .*", lines[-1]), listing
    return [re.split(r"\s{2,}", line.strip()) for line in lines[1:-1]]


def worker_log(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    """A worker's log: one JSON object a line on stderr."""
    return [json.loads(line) for line in result.stderr.splitlines()]


def events(log: list[dict[str, object]]) -> list[str]:
    """What each line of a worker's log is about: its message up to the first colon."""
    return [str(line["msg"]).split(":")[0] for line in log]


@pytest.fixture
def new_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A folder for a new user's work; this test run's own Redis settings must not reach it (they are set
    here to somewhere else, so a command that inherited them would fail). Its project's embedded Redis is
    stopped afterwards, whatever happened."""
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("STALWART_HOME", str(tmp_path / "not-the-project"))
    yield tmp_path
    EmbeddedRedis(tmp_path / "shop" / ".stalwart").stop()


def assert_it_went_as_the_readme_says(transcript: Transcript, shop: Path) -> None:
    """The outcomes the README states, and each command's place in them."""
    home = shop / ".stalwart"
    started = transcript.one(r"stalwart redis start")
    url = started.stdout.strip()
    assert re.fullmatch(r"redis://127\.0\.0\.1:\d+/0", url), started.stdout
    assert f"embedded Redis started in {home} (the project root, marked by pyproject.toml" in started.stderr
    job_id = str(uuid.UUID(transcript.one(r"python enqueue\.py").stdout.strip()))
    using = f"REDIS_URL is not set: using the embedded Redis at {url}, data in {home} ("

    # The job failed three times, the worker serving its queue without being told it, and was dead-lettered
    failing = worker_log(transcript.one(r"MAIL_SERVICE_DOWN=1 stalwart worker .*"))
    assert events(failing) == [
        "REDIS_URL is not set",
        "worker started",
        *["job started", "job attempt failed, will retry"] * 2,
        "job started",
        "job ended",
        "ALERT myapp.jobs.SendWelcomeEmail dead-lettered (exhausted)",
        "worker stopped",
    ]
    assert str(failing[0]["msg"]).startswith(using)
    assert str(failing[1]["msg"]).startswith("worker started: queues mail (all its jobs' queues); ")
    assert " failed while sending the welcome email to user 1: MailServiceDown: " in str(failing[-3]["msg"])
    assert {line["job_id"] for line in failing if "job_id" in line} == {job_id}

    # `dlq list` shows one row, by the id's first 8 characters; the replay takes them back
    ((shown, _, *dead),) = rows(transcript.one(r"stalwart dlq list").stdout)
    assert (shown, dead) == (
        job_id[:8],
        [
            "dead",
            "exhausted",
            "3",
            "myapp.jobs.SendWelcomeEmail",
            "MailServiceDown: mail service refused the connection for ada@example.com",
        ],
    )
    replayed = transcript.one(rf"stalwart dlq replay {shown} .*").stdout
    match = re.fullmatch(rf"replayed {job_id} as job (\S+)\n", replayed)
    assert match, replayed
    new_id = match.group(1)

    # The replay succeeded, and the entry is resolved
    succeeding = worker_log(transcript.one(r"stalwart worker .*"))
    assert events(succeeding) == [
        "REDIS_URL is not set",
        "worker started",
        "job started",
        "job ended",
        "worker stopped",
    ]
    assert str(succeeding[0]["msg"]).startswith(using)
    assert (succeeding[3]["msg"], succeeding[3]["job_id"]) == ("job ended: succeeded", new_id)
    ((shown, _, *resolved),) = rows(transcript.one(r"stalwart dlq list --status resolved").stdout)
    assert (shown, resolved[0]) == (job_id[:8], "resolved")

    # The user's own tests pass, and the embedded Redis is stopped
    assert re.search(r"\b2 passed\b", transcript.one(r"pytest").stdout)
    assert transcript.one(r"stalwart redis stop").stdout == "stopped\n"
    assert EmbeddedRedis(home).running_url() is None


def test_the_readme_walkthrough_runs_as_written_from_the_project_folder(
    user_venv: Path, new_user: Path
) -> None:
    shop = new_user / "shop"
    shop.mkdir()

    transcript = follow(walkthrough(), user_venv, Places(project=shop, app=shop, worker=shop))

    assert_it_went_as_the_readme_says(transcript, shop)


def test_the_readme_walkthrough_runs_with_the_enqueue_in_a_subfolder_and_the_worker_above_the_project(
    user_venv: Path, new_user: Path
) -> None:
    # Given the project in shop/, with the user's script and commands in shop/scripts/, and the worker
    # started from the folder above the project
    shop = new_user / "shop"
    (shop / "scripts").mkdir(parents=True)

    transcript = follow(walkthrough(), user_venv, Places(project=shop, app=shop / "scripts", worker=new_user))

    # Then every command found the project's one embedded Redis, and no other was started anywhere
    assert_it_went_as_the_readme_says(transcript, shop)
    assert (shop / "scripts" / "enqueue.py").exists()
    assert sorted(p.name for p in new_user.rglob(".stalwart")) == [".stalwart"]
    assert (shop / ".stalwart").is_dir()
