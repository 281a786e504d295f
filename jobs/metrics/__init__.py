"""Prometheus metrics for the whole fleet, read from Redis: nothing to set up in workers.

``snapshot.read`` takes what the workers already keep in Redis (all-time counts, the duration
histogram, queue depths, dead-letter entries by status, circuit states) in a few pipelined round
trips; ``exposition.render`` turns a snapshot into the text exposition format; ``server`` serves it
on ``GET /metrics`` (``stalwart metrics``, or mounted by another HTTP server).
"""

from __future__ import annotations

from .exposition import CONTENT_TYPE, escape_label, render
from .server import MetricsServer, check_bind, make_server
from .snapshot import Snapshot, read

__all__ = [
    "CONTENT_TYPE",
    "MetricsServer",
    "Snapshot",
    "check_bind",
    "escape_label",
    "make_server",
    "read",
    "render",
]
