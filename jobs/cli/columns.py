"""Plain aligned columns that fit a terminal's width: what ``dlq list`` and ``stats`` print.

No box and two spaces between columns, so an 80-column terminal has room for
what matters. Every cell goes through ``render.visible`` (control characters
shown as escapes) and is rich ``Text``, never markup. A line too wide for the
terminal is shortened in the one column marked ``cut`` (its end replaced by
``…``); what still does not fit is cut at the terminal's edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text

from .render import visible

GAP = "  "


@dataclass(frozen=True)
class Column:
    """A column: its header, whether its cells are right-aligned, whether it gives way when too wide.

    A cell too wide for its column loses its end to ``…``, or with ``keep_end`` its start (a job's
    module path gives way before its class name).
    """

    header: str
    right: bool = False
    cut: bool = False
    min_width: int = 8
    keep_end: bool = False


def widths(columns: Sequence[Column], rows: Sequence[Sequence[object]], width: int) -> list[int]:
    """Each column's width: its widest cell or header; ``cut`` columns narrowed to fit, the last first."""
    sizes = [
        max([Text(column.header).cell_len, *(Text(visible(row[i])).cell_len for row in rows)])
        for i, column in enumerate(columns)
    ]
    over = sum(sizes) + len(GAP) * (len(sizes) - 1) - width
    for i, column in reversed(list(enumerate(columns))):
        if over > 0 and column.cut:
            narrower = max(min(column.min_width, sizes[i]), sizes[i] - over)
            over -= sizes[i] - narrower
            sizes[i] = narrower
    return sizes


def line(columns: Sequence[Column], cells: Sequence[object], sizes: Sequence[int], style: str = "") -> Text:
    """One line of cells, each cut or padded to its column's width (the last one is not padded)."""
    out = Text(style=style)
    for i, (column, cell, size) in enumerate(zip(columns, cells, sizes, strict=True)):
        shown = _ending(visible(cell), size) if column.keep_end else Text(visible(cell))
        shown.truncate(size, overflow="ellipsis")
        if i < len(columns) - 1 or column.right:
            shown.align("right" if column.right else "left", size)
        out.append_text(shown)
        if i < len(columns) - 1:
            out.append(GAP)
    return out


def _ending(value: str, size: int) -> Text:
    """``value`` whole if it fits ``size`` cells, else ``…`` and as much of its end as fits."""
    if cell_len(value) <= size:
        return Text(value)
    kept = ""
    for character in reversed(value):
        if cell_len(character + kept) > size - 1:
            break
        kept = character + kept
    return Text("…" + kept)


def header(columns: Sequence[Column], sizes: Sequence[int]) -> Text:
    """The line of headers, in bold."""
    return line(columns, [column.header for column in columns], sizes, style="bold")


def cut(value: object, width: int, indent: int = 0) -> Text:
    """``value`` on one line of ``width`` cells at most, indented, its end replaced by ``…`` if too long."""
    shown = Text(visible(value))
    shown.truncate(max(1, width - indent), overflow="ellipsis")
    return Text(" " * indent) + shown


def packed(items: Sequence[object], width: int, indent: int = 0) -> list[Text]:
    """``items`` joined by ``, `` on indented lines of ``width`` cells at most, never breaking inside one.

    An item wider than a line by itself is cut with ``…``.
    """
    room = max(1, width - indent)
    lines: list[Text] = []
    current = Text()
    for i, item in enumerate(items):
        shown = Text(visible(item) + ("," if i < len(items) - 1 else ""))
        if current.cell_len and current.cell_len + 1 + shown.cell_len > room:
            lines.append(current)
            current = Text()
        if current.cell_len:
            current.append(" ")
        current.append_text(shown)
        current.truncate(room, overflow="ellipsis")
    if current.cell_len:
        lines.append(current)
    return [Text(" " * indent) + found for found in lines]
