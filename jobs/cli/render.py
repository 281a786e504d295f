"""Output for people at a terminal: consoles sized for tables."""

from __future__ import annotations

from rich.console import Console


def wide_console() -> Console:
    """A console for tables: the terminal's width, or a wide page when writing to a pipe or file."""
    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=max(console.width, 200))
