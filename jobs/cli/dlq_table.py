"""The table of ``stalwart dlq list``: one entry a line when the terminal is wide, two when it is narrow.

Ids are shown abbreviated (``ids.abbreviations``), the time of the last
failure as an age (``3h ago``, as ``--since 3h`` takes it), status and
classification whole; a job name too long loses the start of its module path
(``…g.ChargeMonthlyFee``). The error is never dropped: on a wide terminal it is
the last column, on a narrow one (80 columns) it has a line of its own under
its entry; either way, cut with ``…`` where the terminal ends (``dlq show``
has all of it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

from rich.text import Text

from ..dead_letter import DeadLetterEntry
from .columns import GAP, Column, cut, header, line, widths
from .render import visible

ENTRY = (
    Column("id"),
    Column("failed"),
    Column("status"),
    Column("classification"),
    Column("attempts", right=True),
    Column("job", cut=True, min_width=12, keep_end=True),
)
ERROR = Column("error", cut=True, min_width=30)


def ago(timestamp: str, now: datetime) -> str:
    """How long before ``now`` ``timestamp`` was: ``42s ago``, ``5m ago``, ``7h ago``, ``12d ago``.

    Two months back or more, the date (``2026-03-05``); a time that cannot be read is shown as it is.
    """
    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp[:19]
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size, below in (
        ("s", 1, 60),
        ("m", 60, 3600),
        ("h", 3600, 48 * 3600),
        ("d", 86400, 60 * 86400),
    ):
        if seconds < below:
            return f"{seconds // size}{unit} ago"
    return then.astimezone(timezone.utc).date().isoformat()


def entry_lines(
    entries: Sequence[DeadLetterEntry], short: Mapping[str, str], width: int, now: datetime
) -> list[Text]:
    """The header and the entries' lines for a terminal ``width`` columns wide."""
    rows = [
        [short.get(e.id, e.id), ago(e.last_failed_at, now), e.status, e.classification, e.attempts, e.job]
        for e in entries
    ]
    errors = [f"{e.error_type}: {e.error_message}" for e in entries]
    sizes = widths(ENTRY, rows, width)
    room = width - sum(sizes) - len(GAP) * len(sizes)
    if room >= min(ERROR.min_width, max((Text(visible(error)).cell_len for error in errors), default=0)):
        # Wide: the error is the last column.
        columns = (*ENTRY, ERROR)
        sizes = widths(columns, [[*row, error] for row, error in zip(rows, errors, strict=True)], width)
        return [header(columns, sizes)] + [
            line(columns, [*row, error], sizes) for row, error in zip(rows, errors, strict=True)
        ]
    # Narrow: the error on a line of its own, indented past the ids so that they stand out.
    indent = sizes[0] + len(GAP)
    lines = [header(ENTRY, sizes)]
    for row, error in zip(rows, errors, strict=True):
        lines += [line(ENTRY, row, sizes), cut(error, width, indent)]
    return lines
