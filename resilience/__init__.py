"""Framework-free primitives for code that must behave in production.

Nothing here imports ``jobs`` or ``rq``: these pieces work in any Python code.
"""

from __future__ import annotations

from .redaction import REDACTED, is_secret_name, redact

__all__ = ["REDACTED", "is_secret_name", "redact"]
