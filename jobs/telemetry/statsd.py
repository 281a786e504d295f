"""A statsd client over UDP that never blocks and never raises once constructed.

Its constructor resolves the host and can fail: a host that cannot be resolved
turns the client into a no-op with one warning.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket

from .. import settings

log = logging.getLogger("stalwart.stats")


class Statsd:
    """A statsd client over UDP that never blocks and never raises."""

    def __init__(self, host: str | None, port: int = 8125, prefix: str = "stalwart") -> None:
        self.address: tuple[str, int] | None = None
        self.prefix = prefix
        self.socket: socket.socket | None = None
        if not host:
            return
        try:
            self.address = (socket.gethostbyname(host), port)
            self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.socket.setblocking(False)
        except OSError as err:
            log.warning("statsd host %r cannot be used (%s); statistics go to Redis only", host, err)
            self.address = None

    def send(self, counts: list[tuple[str, str, float]]) -> None:
        """Send counters (``|c``); durations (metrics ending in ``duration_ms``) as timers (``|ms``)."""
        if self.socket is None or self.address is None:
            return
        lines = []
        for scope, metric, amount in counts:
            name = _metric_name(self.prefix, scope, metric)
            kind = "ms" if metric.endswith("duration_ms") else "c"
            lines.append(f"{name}:{amount:g}|{kind}")
        self.sendraw("\n".join(lines))

    def gauge(self, name: str, value: float) -> None:
        """Send a gauge."""
        if self.socket is not None and self.address is not None:
            self.sendraw(f"{self.prefix}.{_clean(name)}:{value:g}|g")

    def sendraw(self, payload: str) -> None:
        """One datagram; a full buffer or an unreachable host loses it, silently by design of UDP."""
        if self.socket is None or self.address is None:
            return
        with contextlib.suppress(OSError):
            self.socket.sendto(payload.encode(), self.address)


_statsd: dict[str, Statsd] = {}


def statsd() -> Statsd:
    """The process's statsd client, from ``STATSD_HOST`` / ``STATSD_PORT`` (a no-op without them)."""
    host = settings.current().statsd_host or ""
    port = settings.current().statsd_port
    key = f"{host}:{port}"
    if key not in _statsd:
        _statsd.clear()
        _statsd[key] = Statsd(host or None, port)
    return _statsd[key]


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def _metric_name(prefix: str, scope: str, metric: str) -> str:
    return f"{prefix}.{_clean(scope)}.{_clean(metric)}"
