"""What a failed file operation means for a person: the path, the reason, and what to do about it."""

from __future__ import annotations

import errno

_WHAT_TO_DO = {
    errno.ENOSPC: "free space on its disk",
    errno.EDQUOT: "free space within your disk quota",
    errno.EFBIG: "free space on its disk, or raise the file size limit (ulimit -f)",
    errno.EACCES: "check its permissions and those of its folder",
    errno.EPERM: "check its permissions and those of its folder",
    errno.EROFS: "choose a path on a disk that is not read-only",
    errno.EISDIR: "name a file, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EEXIST: "a part of the path is a file, not a folder: choose another path",
    errno.ENOENT: "check that its folder exists",
    errno.ENAMETOOLONG: "choose a shorter path",
}


def explain(err: OSError, path: object | None = None) -> str:
    """``err`` as ``'PATH: REASON; WHAT TO DO'``, e.g. ``'/a/b: No space left on device; free space...'``."""
    where = path if path is not None else (err.filename if err.filename is not None else "the file")
    reason = err.strerror or type(err).__name__
    advice = _WHAT_TO_DO.get(err.errno or 0, "check the path and the disk")
    return f"{where}: {reason}; {advice}"
