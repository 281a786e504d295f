"""Stop signals for stalwart's own loop: the first asks for a warm stop, a later second one for a cold stop.

SIGTERM or SIGINT asks for a warm stop: no new job is taken, the running ones
finish. A second one, a second or more after the first, is a cold stop: the
caller's ``on_cold`` settles the attempts still running. A second signal within
the second is the same request: a terminal's Ctrl-C reaches a whole process
group, a supervisor may send it to every process of a service, a pool passes
it on (RQ's rule too).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger("stalwart.worker")

COLD_AFTER_S = 1.0


class StopSignals:
    """The stop signals one loop received (``noted``, shared with its ``Worker``), and what they asked."""

    def __init__(self, noted: list[int], on_cold: Callable[[], None]) -> None:
        self.noted = noted
        self.on_cold = on_cold
        self.stopping = threading.Event()
        self.cold = False
        self._first: float | None = None

    def install(self) -> dict[int, Any]:
        """Handle SIGTERM and SIGINT (in the main thread only: Python allows no handlers elsewhere); returns
        the handlers replaced, for ``restore``. A signal noted before is a warm stop asked already."""
        if self.noted:
            self.stopping.set()
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {number: signal.signal(number, self._on_signal) for number in (signal.SIGTERM, signal.SIGINT)}

    @staticmethod
    def restore(replaced: dict[int, Any]) -> None:
        for number, handler in replaced.items():
            signal.signal(number, handler)

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        self.noted.append(number)
        at = time.monotonic()
        if self._first is None:
            self._first = at
            self.stopping.set()
            log.info("warm shutdown: finishing the jobs running now; send the signal again to stop them")
            return
        if at - self._first < COLD_AFTER_S or self.cold:
            return
        self.cold = True
        self.on_cold()
