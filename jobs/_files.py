"""Files that may hold secrets: created readable and writable by their owner only (0600), whatever the umask.

The dead-letter archive holds every entry's arguments unredacted (it is the copy to replay from); an
export, the embedded Redis's data and log are no one else's business either. A file that already exists
keeps its mode: a person may have chosen it (a group that reads the backups).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, TextIO

PRIVATE_FILE = 0o600
PRIVATE_DIRECTORY = 0o700


def open_private(path: Path | str, mode: Literal["a", "w"]) -> TextIO:
    """``open(path, mode, encoding="utf-8")``, creating the file 0600 if it does not exist yet."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    # The mode is applied at creation, atomically: no moment where the file is readable by others.
    descriptor = os.open(path, flags, PRIVATE_FILE)
    try:
        return os.fdopen(descriptor, mode, encoding="utf-8")
    except BaseException:
        os.close(descriptor)
        raise


def write_private(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path``, replacing what it held; a new file is created 0600."""
    with open_private(path, "w") as out:
        out.write(text)
