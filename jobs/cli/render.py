"""Output for people at a terminal: consoles sized for tables, and text from Redis made safe to show.

Everything read from Redis (job names, error messages, request ids, counter
names, queue names) was written by an application, by a caller (an
``X-Request-ID`` header) or by anyone who can write to Redis. It goes to the
terminal through ``text`` (for rich) or ``visible`` (for plain ``print``): rich
markup in it is shown, not interpreted, and control characters are shown as
escapes (``\\x1b``), so no escape sequence in the data ever reaches the terminal.
"""

from __future__ import annotations

import os
import re
from typing import Any

from rich.console import Console
from rich.text import Text

# C0 controls, DEL, C1 controls (a terminal takes \x9b as CSI), and the bidirectional-override and
# isolate characters that make a line read differently from what it holds.
_UNSAFE = "\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_ON_ONE_LINE = re.compile(f"[\x00-\x0a{_UNSAFE}]")
_KEEPING_LINES = re.compile(f"[\x00-\x08{_UNSAFE}]")  # tab and newline kept


_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(found: re.Match[str]) -> str:
    character = found.group()
    code = ord(character)
    return _NAMED.get(character) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def visible(value: object, *, lines: bool = False) -> str:
    """``value`` as a string whose control characters are shown as escapes (``\\x1b``, ``\\n``).

    With ``lines``, newlines and tabs are kept (a traceback keeps its shape).
    """
    pattern = _KEEPING_LINES if lines else _ON_ONE_LINE
    return pattern.sub(_escape, str(value))


def text(value: object, *, lines: bool = False, style: str = "") -> Text:
    """``visible(value)`` as rich ``Text``: printed as it is, its square brackets never read as markup."""
    return Text(visible(value, lines=lines), style=style)


# The width of a page written to a pipe or a file, unless COLUMNS says otherwise.
PAGE_WIDTH = 200


class _Console(Console):
    """rich's console, but a reader that went away (``| head``) ends the command as ``main`` ends it.

    rich's own handling exits with status 1, as if the command had failed.
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError("the reader of standard output went away")


def console(**options: Any) -> Console:
    """A console for the CLI's output (no highlighting of numbers and names in what it prints)."""
    return _Console(highlight=False, **options)


def wide_console() -> Console:
    """A console for tables: the terminal's width (or COLUMNS), or a wide page for a pipe or a file."""
    found = console()
    if found.is_terminal or os.environ.get("COLUMNS", "").strip().isdigit():
        return found
    return console(width=PAGE_WIDTH)
