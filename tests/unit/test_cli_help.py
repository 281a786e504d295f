"""Every command says what it does (issue 13): `--help` of each, found by walking the parser; `--version`."""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Iterator
from importlib import metadata

import pytest

from jobs.cli import build_parser, main
from tests.workers import STALWART


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every command and sub-command (``()``, ``("dlq",)``, ``("dlq", "list")``...)."""
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def parser_of(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = action.choices[name]
    return parser


ALL = list(commands(build_parser()))


def test_the_walk_finds_every_command() -> None:
    assert {" ".join(path) for path in ALL} >= {
        "",
        "worker",
        "redis",
        "redis start",
        "redis stop",
        "redis url",
        "dlq",
        "dlq list",
        "dlq show",
        "dlq replay",
        "dlq discard",
        "dlq export",
        "dlq archive",
        "dlq sweep",
        "stats",
        "check",
        "watch",
        "demo",
    }


@pytest.mark.parametrize("path", ALL, ids=lambda path: " ".join(path) or "stalwart")
def test_every_command_has_a_help_that_says_what_it_and_each_of_its_options_do(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    parser = parser_of(path)
    silent = [
        action.dest
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction | argparse._SubParsersAction) and not action.help
    ]
    subcommands_silent = [
        choice.dest
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for choice in action._choices_actions
        if not choice.help
    ]

    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    shown = capsys.readouterr().out

    assert exited.value.code == 0
    assert parser.description, f"`stalwart {' '.join(path)} --help` does not say what the command does"
    assert shown.startswith(f"usage: stalwart {' '.join(path)}".rstrip())
    assert parser.description.split()[0] in shown
    assert silent == [], f"options without help in `stalwart {' '.join(path)} --help`"
    assert subcommands_silent == []


def test_redis_help_describes_start_stop_and_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["redis", "--help"])
    shown = " ".join(capsys.readouterr().out.split())

    assert "start start the embedded Redis server, or find it running, and print its URL" in shown
    assert "stop stop the embedded Redis server (its data is kept)" in shown
    assert "url print the URL of the running embedded Redis server" in shown


def test_version_is_the_installed_package_version() -> None:
    run = subprocess.run([*STALWART, "--version"], capture_output=True, text=True, check=False, timeout=60)

    assert (run.returncode, run.stdout, run.stderr) == (0, f"stalwart {metadata.version('stalwart')}\n", "")
