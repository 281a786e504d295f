"""How the ``stalwart`` command's sub-commands are declared: the parser class, and the options and
helpers every command module shares (``parser``, ``parser_flow``, ``parser_web``)."""

from __future__ import annotations

import argparse
from importlib import metadata
from typing import Any, NoReturn

DLQ_STATUSES = ("dead", "replayed", "resolved", "discarded")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line that says what to run for help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def group(commands: Any, name: str, help_text: str, description: str) -> Any:
    """A command with commands of its own (``stalwart dlq list``); returns where to add them."""
    group = commands.add_parser(name, help=help_text, description=description)
    return group.add_subparsers(
        title="commands", dest=f"{name}_command", required=True, metavar="COMMAND", parser_class=Parser
    )


def command(commands: Any, name: str, run: str, help_text: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A sub-command; its --help starts with what it does (``help_text``, unless a description is given)."""
    kwargs.setdefault("description", sentence(help_text))
    sub: argparse.ArgumentParser = commands.add_parser(name, help=help_text, **kwargs)
    sub.set_defaults(parser=sub, run=run)
    return sub


def sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def json_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"{what} as JSON, for scripts")


def entry_id(parser: argparse.ArgumentParser, nargs: str | None = None) -> None:
    parser.add_argument(
        "id",
        nargs=nargs,
        help="the entry's id, or any unique start of it (at least as much as `dlq list` shows)",
    )


def by_option(parser: argparse.ArgumentParser, doing: str) -> None:
    parser.add_argument("--by", help=f"who is {doing}, for the audit trail (default: user@host)")


def version() -> str:
    """The installed package's version (``stalwart --version``)."""
    try:
        return metadata.version("stalwart")
    except metadata.PackageNotFoundError:
        return "unknown (not installed: run from a checkout)"


def add_import_option(parser: argparse.ArgumentParser, what: str, required: bool = True) -> None:
    """The ``--import MODULE`` option whose modules ``modules.import_job_modules`` imports."""
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        required=required,
        metavar="MODULE",
        help=f"module that {what} (repeatable)",
    )


def outbox_option(parser: argparse.ArgumentParser, what: str, required: bool = False) -> None:
    parser.add_argument(
        "--outbox",
        metavar="URL",
        required=required,
        help=f"{what}: sqlite:///PATH or postgresql://USER@HOST:PORT/DB (default: STALWART_OUTBOX_URL)",
    )
