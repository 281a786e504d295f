"""Process helpers for the worker's children."""

from __future__ import annotations

import ctypes
import logging
import signal
import sys

log = logging.getLogger("stalwart.worker")

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (a no-op elsewhere).

    A worker's work-horse and scheduler are its children; if the worker is
    SIGKILLed they must not live on as orphans: a work-horse finishing a job
    nobody watches would race the reaper that settles that job, and an orphan
    scheduler would run forever.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError) as err:
        log.warning(
            "could not tie this process's life to its worker's (%s); it may outlive a killed worker", err
        )
