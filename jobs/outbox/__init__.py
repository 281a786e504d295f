"""A transactional outbox: enqueue a job in the application's own database transaction.

``outbox.enqueue(connection, SendWelcome, user_id=7)`` writes the checked job
into the ``stalwart_outbox`` table through the caller's connection: it exists
if and only if the transaction commits. A ``Relay`` (run by ``stalwart worker
--outbox URL``) moves committed rows to Redis, each job exactly once, under the
id ``enqueue`` returned. ``install`` creates the table; ``sql`` prints it.
"""

from __future__ import annotations

from .backlog import Backlog, backlog
from .produce import enqueue, enqueue_at, enqueue_in
from .relay import Relay, Round
from .table import CHANNEL, TABLE, install, sql

__all__ = [
    "CHANNEL",
    "TABLE",
    "Backlog",
    "Relay",
    "Round",
    "backlog",
    "enqueue",
    "enqueue_at",
    "enqueue_in",
    "install",
    "sql",
]
