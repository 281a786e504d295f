"""Process helpers for the worker's children."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

log = logging.getLogger("stalwart.worker")

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent, ``parent_pid``, dies (a no-op elsewhere); and
    end now if it has already died.

    A worker's work-horse and scheduler are its children; if the worker is
    SIGKILLed they must not live on as orphans: a work-horse finishing a job
    nobody watches would race the reaper that settles that job, and an orphan
    scheduler would run forever, refreshing its locks so no other worker takes
    scheduling over. An orphan also holds the worker's Redis connections (a
    child inherits its parent's sockets), so Redis kept serving the dead
    worker's blocked dequeue: a job pushed then was handed to no one. The
    request only covers a parent that dies after it is made, so a parent killed
    while the child was starting (measured: the scheduler, killed within half a
    second of starting its worker, under load) is checked for here.
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
    if os.getppid() != parent_pid:
        os._exit(1)  # the worker died before this process could ask to die with it: it has no one to serve
