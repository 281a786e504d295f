"""Framework-free primitives for code that must behave in production.

Nothing here imports ``jobs`` or ``rq``: these pieces work in any Python code.
"""

from __future__ import annotations

from .backoff import Backoff, Exponential, Fixed, Linear
from .circuit import Admission, CircuitBreaker, CircuitOpen
from .classify import Kind, ambiguous, classify, transient
from .context import attempting
from .errors import OperationFailed, PolicyError, ResilienceError
from .idempotency import IdempotencyGuard, SideEffectUncertain
from .policy import RetryPolicy
from .redaction import REDACTED, Scrubber, is_secret_name, redact
from .retry import retry_call, retrying

__all__ = [
    "REDACTED",
    "Admission",
    "Backoff",
    "CircuitBreaker",
    "CircuitOpen",
    "Exponential",
    "Fixed",
    "IdempotencyGuard",
    "Kind",
    "Linear",
    "OperationFailed",
    "PolicyError",
    "ResilienceError",
    "RetryPolicy",
    "Scrubber",
    "SideEffectUncertain",
    "ambiguous",
    "attempting",
    "classify",
    "is_secret_name",
    "redact",
    "retry_call",
    "retrying",
    "transient",
]
