"""The archive's JSON Lines file: appended a whole batch at a time, or not at all.

A run can fail anywhere: the disk fills up in the middle of a line, the process
is killed, Redis goes away after the lines were written and before the entries
were deleted. The file stays valid JSON Lines with each entry once:

- a batch that cannot be written whole is cut off again (the file is truncated
  back to where the batch began) and the run stops, deleting nothing of it;
- a line left torn by a run that was killed mid-write is cut off when the file
  is next opened (its entries were not deleted: they are written again);
- the lines of the last batch are remembered when the file is opened, and an
  entry whose line is already there, byte for byte, is not written again (its
  run wrote it, then could not delete it from Redis).

One run at a time writes to a file (an exclusive ``flock``).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from .._file_errors import explain
from ..errors import ArchiveError

log = logging.getLogger("stalwart.dead_letter")

_CHUNK = 64 * 1024


class ArchiveFile:
    """An archive file opened for appending whole batches of lines (``open`` it; ``close`` it)."""

    def __init__(self, path: Path, fd: int, recent: set[bytes]) -> None:
        self.path = path
        self._fd = fd
        self._recent = recent

    @classmethod
    def open(cls, path: Path, remember: int) -> ArchiveFile:
        """Open (or create, mode 0600) ``path``, repair a torn last line, and remember its last lines.

        Raises ArchiveError saying what to do when the file cannot be opened or another run holds it.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as err:
            raise ArchiveError(f"cannot open the dead-letter archive {explain(err, path)}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            os.close(fd)
            raise ArchiveError(
                f"another archive run is writing to {path}; run this one again once it has finished"
            ) from err
        try:
            _cut_torn_line(fd, path)
            recent = {_digest(line) for line in _last_lines(fd, remember)}
        except OSError as err:
            os.close(fd)
            raise ArchiveError(f"cannot read the dead-letter archive {explain(err, path)}") from err
        return cls(path, fd, recent)

    def holds(self, line: str) -> bool:
        """Whether this exact line is among the last lines the file held when it was opened."""
        return _digest(line.encode()) in self._recent

    def append(self, lines: list[str]) -> None:
        """Append ``lines`` and fsync them, all or none; ArchiveError (the file as it was) if that fails."""
        data = "".join(line + "\n" for line in lines).encode()
        size = os.fstat(self._fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as err:
            self._truncate_back(size, err)
            raise ArchiveError(
                f"could not write to the dead-letter archive {explain(err, self.path)}; the entries not "
                "written are still in Redis: run the archive again once that is done"
            ) from err

    def close(self) -> None:
        """Release the file (and its lock)."""
        os.close(self._fd)

    def _truncate_back(self, size: int, cause: OSError) -> None:
        try:
            os.ftruncate(self._fd, size)
            os.fsync(self._fd)
        except OSError as err:
            # The next run cuts a torn line off; whole lines it finds again it does not write twice.
            log.error(
                "could not cut the archive %s back to %d bytes after %s (%s); the next archive run "
                "repairs it",
                self.path,
                size,
                cause,
                err,
            )


def _digest(line: bytes) -> bytes:
    return hashlib.blake2b(line.rstrip(b"\n"), digest_size=16).digest()


def _cut_torn_line(fd: int, path: Path) -> None:
    """Truncate the file after its last newline: what follows is a line a killed run left half-written."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    keep, end = 0, size
    while end > 0:
        start = max(0, end - _CHUNK)
        found = os.pread(fd, end - start, start).rfind(b"\n")
        if found >= 0:
            keep = start + found + 1
            break
        end = start
    log.warning(
        "the archive %s ended with a partial line of %d bytes (a run was interrupted); cut off: its "
        "entries were not deleted from Redis and are archived again",
        path,
        size - keep,
    )
    os.ftruncate(fd, keep)
    os.fsync(fd)


def _last_lines(fd: int, count: int) -> Iterator[bytes]:
    """Up to ``count`` whole lines from the end of the file (which ends with a newline), last first."""
    position = os.fstat(fd).st_size
    tail = b""
    found = 0
    while position > 0 and found < count:
        start = max(0, position - _CHUNK)
        tail = os.pread(fd, position - start, start) + tail
        position = start
        lines = tail.split(b"\n")
        tail = lines[0]  # may continue in the chunk before
        for line in reversed(lines[1:]):
            if line and found < count:
                found += 1
                yield line
    if position == 0 and tail and found < count:
        yield tail
