"""Time limits for jobs that run in threads: one watchdog thread for all of them.

A job running in the main thread is stopped at its ``timeout_s`` by a signal
alarm (RQ's ``UnixSignalDeathPenalty``). A thread gets no signals, and cannot be
killed: the watchdog raises the time-limit exception in the job's thread instead
(``PyThreadState_SetAsyncExc``), which Python delivers at the thread's next
bytecode: Python code stops at once; a call blocked in C (a socket read with no
timeout of its own) returns first.

RQ's thread-based limit starts a timer thread per job, and rewrites the
exception class's ``__init__`` for its message, for every class it is given,
for the whole process. Its timer could also fire just as the job ended, and the
exception then landed in whatever the thread ran next: the worker's own
bookkeeping. Here one thread keeps every deadline; a limit whose job ends first
is removed under the same lock the watchdog fires under, and an exception the
watchdog raised that the job's thread has not met yet is withdrawn as the limit
ends, so it never reaches code after the job.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

_messages: dict[tuple[type[BaseException], float], type[BaseException]] = {}


class Watchdog:
    """Raises a job's time-limit exception in its thread once its time is up; use ``limit`` around it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # Each running limit: its deadline (monotonic), the job's thread, the exception class to raise.
        self._limits: dict[int, tuple[float, int, type[BaseException]]] = {}
        self._keys = itertools.count()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def limit(self, timeout: float, exception: type[BaseException], **_: Any) -> Iterator[None]:
        """Run the block with a time limit of ``timeout`` seconds (none if 0 or less)."""
        if timeout <= 0:
            yield
            return
        key = next(self._keys)
        thread = threading.get_ident()
        with self._lock:
            self._limits[key] = (time.monotonic() + timeout, thread, _with_message(exception, timeout))
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="stalwart-time-limits", daemon=True)
                self._thread.start()
            self._changed.notify()
        try:
            yield
        finally:
            with self._lock:
                if self._limits.pop(key, None) is None:
                    # It fired: withdraw the exception if the thread has not met it yet (if it has, it is
                    # what is propagating now, and stays).
                    _raise_in(thread, None)

    def _watch(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                for key in [k for k, (deadline, _, _) in self._limits.items() if deadline <= now]:
                    _, thread, exception = self._limits.pop(key)
                    _raise_in(thread, exception)
                nearest = min((deadline for deadline, _, _ in self._limits.values()), default=None)
                self._changed.wait(None if nearest is None else max(nearest - now, 0.0))


def _with_message(exception: type[BaseException], timeout: float) -> type[BaseException]:
    """A subclass of ``exception`` (same name) whose instances say the limit: Python instantiates an
    exception raised in another thread with no arguments."""
    found = _messages.get((exception, timeout))
    if found is None:
        message = f"Task exceeded maximum timeout value ({timeout:g} seconds)"

        def init(self: BaseException, *args: Any) -> None:
            exception.__init__(self, *(args or (message,)))

        found = _messages[(exception, timeout)] = type(exception.__name__, (exception,), {"__init__": init})
        found.__module__ = exception.__module__
        found.__qualname__ = exception.__qualname__
    return found


def _raise_in(thread: int, exception: type[BaseException] | None) -> None:
    """Make ``thread`` raise ``exception`` at its next bytecode (None: withdraw one not yet raised)."""
    target = ctypes.c_ulong(thread)
    # None is passed as NULL: withdraw.
    ctypes.pythonapi.PyThreadState_SetAsyncExc(target, ctypes.py_object(exception) if exception else None)
