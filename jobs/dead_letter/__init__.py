"""The dead-letter queue: where jobs that could not finish wait for a person.

entry storage (``storage``) and indexes (``store``), the audit trail
(``audit``), replay and discard (``replay``), archiving (``archive``), and the
public ``DeadLetterQueue`` that puts them together (``queue``).
"""

from __future__ import annotations

from ..model.entry import DeadLetterEntry
from .queue import DeadLetterQueue

__all__ = ["DeadLetterEntry", "DeadLetterQueue"]
