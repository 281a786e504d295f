"""How the jobs a worker ran ended, counted for its stop line.

In-process, an attempt's outcome is counted where it is decided. A forking
worker's attempts end in work-horses, whose memory dies with them: a horse
writes its outcome, one short line, into a pipe the worker made before forking,
and the worker reads the pipe after each horse (no Redis round trip; a write
this short is atomic).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter

from ..model.outcome import Status

log = logging.getLogger("stalwart.worker")

# The outcomes of an attempt, in the order the stop line gives them.
SUCCEEDED, NEGATIVE, RETRIED, DEAD_LETTERED = "succeeded", "negative", "retried", "dead_lettered"
ORDER = (SUCCEEDED, NEGATIVE, RETRIED, DEAD_LETTERED)
_SHOWN = {
    SUCCEEDED: "succeeded",
    NEGATIVE: "negative",
    RETRIED: "retried",
    DEAD_LETTERED: "dead-lettered",
}
# An attempt's ending status (a job abandoned and requeued reads as queued) to its outcome.
_BY_STATUS = {
    Status.SUCCEEDED: SUCCEEDED,
    Status.NEGATIVE: NEGATIVE,
    Status.SCHEDULED: RETRIED,
    Status.QUEUED: RETRIED,
    Status.DEAD_LETTERED: DEAD_LETTERED,
}
# What the reaper's ``settle`` made of a job whose work-horse died.
_BY_VERDICT = {"retried": RETRIED, "abandoned": DEAD_LETTERED, "poison": DEAD_LETTERED}


def outcome_of(status: Status) -> str:
    """The outcome an attempt that ended in ``status`` counts as."""
    return _BY_STATUS.get(status, str(status))


def outcome_of_verdict(verdict: str | None) -> str | None:
    """The outcome of a job the worker settled as abandoned (None: another worker had settled it)."""
    return None if verdict is None else _BY_VERDICT.get(verdict, verdict)


class Tally:
    """Counts of ended attempts by outcome, across this worker's work-horses."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        self._in_horse = False
        self._partial = b""

    def entered_horse(self) -> None:
        """Called in a freshly forked work-horse: from now on outcomes go to the worker through the pipe."""
        self._in_horse = True

    def add(self, outcome: str) -> None:
        """Count one ended attempt (from a work-horse: tell the worker)."""
        if not self._in_horse:
            self.counts[outcome] += 1
            return
        try:
            os.write(self._write, f"{outcome}\n".encode())
        except OSError as err:
            # Only the stop line's count is short by one: the job's own ending is already written.
            log.warning("could not tell the worker how this job ended, for its count (%s)", err)

    def collect(self) -> None:
        """Count what the work-horses have reported since the last call."""
        while True:
            try:
                chunk = os.read(self._read, 65536)
            except BlockingIOError:
                return
            if not chunk:
                return
            *lines, self._partial = (self._partial + chunk).split(b"\n")
            self.counts.update(line.decode() for line in lines if line)

    def summary(self) -> str:
        """``ran 5 attempts: 3 succeeded, 1 negative, 1 dead-lettered`` (a job retried twice ran 3)."""
        self.collect()
        total = sum(self.counts.values())
        parts = [f"{self.counts[o]} {_SHOWN[o]}" for o in ORDER if self.counts[o]]
        parts += [f"{n} {o}" for o, n in sorted(self.counts.items()) if o not in ORDER and n]
        return f"ran {total} attempt{'' if total == 1 else 's'}" + (f": {', '.join(parts)}" if parts else "")

    def as_dict(self) -> dict[str, int]:
        """The counts, every outcome named (zeros included), for the stop line's JSON."""
        self.collect()
        return {
            **{o: self.counts[o] for o in ORDER},
            **{o: n for o, n in self.counts.items() if o not in ORDER},
        }

    def close(self) -> None:
        """Close the pipe (the worker has stopped)."""
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)
