"""``IdempotencyGuard``: make a side effect happen at most once per key, across retries and processes.

For third parties that take no idempotency key (a mailer, a legacy API), a job
can guard the call itself::

    with guard.once(f"welcome-mail:{user_id}", release_on=(ConnectionRefusedError,)) as first:
        if first:
            mailer.send_welcome(user_id)

The first run records ``started`` (atomically, in Redis), runs the block and
records ``done``; later runs see ``done`` and skip. If a run ended with an error
in the middle, the side effect may or may not have happened: the next run raises
``SideEffectUncertain``, classified *ambiguous* (a person verifies, then
``clear``s the key), unless the error is one of ``release_on``, the errors that
prove nothing happened (a refused connection), in which case the key is freed
for the retry.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator

import redis

from .classify import Kind, declared_match, mark
from .errors import ResilienceError

DEFAULT_TTL_S = 30 * 24 * 3600


class SideEffectUncertain(ResilienceError):
    """A previous run started the guarded side effect and did not record its end."""

    def __init__(self, key: str, started_at: float) -> None:
        self.key = key
        self.started_at = started_at
        super().__init__(
            f"the side effect guarded by {key!r} was started {time.time() - started_at:.0f} s ago and never "
            "recorded as done: it may or may not have happened. Verify it, then clear the key "
            "(IdempotencyGuard.clear) to let it run again, or mark it done"
        )
        mark(self, Kind.AMBIGUOUS)


class IdempotencyGuard:
    """At-most-once side effects, keyed, with their state in Redis under ``prefix``."""

    def __init__(
        self, connection: redis.Redis, prefix: str = "stalwart:once:", ttl_s: int = DEFAULT_TTL_S
    ) -> None:
        self.connection = connection
        self.prefix = prefix
        self.ttl_s = ttl_s

    @contextlib.contextmanager
    def once(self, key: str, release_on: Iterable[type[BaseException]] = ()) -> Iterator[bool]:
        """Yield True if the block should perform the side effect now, False if it already did."""
        redis_key = self.prefix + key
        if self.connection.set(redis_key, f"started:{time.time()}", nx=True, ex=self.ttl_s):
            try:
                yield True
            except BaseException as error:
                if declared_match(error, tuple(release_on)) is not None:
                    self.connection.delete(redis_key)  # provably nothing happened: the retry may run it
                raise
            self.connection.set(redis_key, "done", ex=self.ttl_s)
            return
        state = self.connection.get(redis_key)
        value = state.decode() if isinstance(state, bytes) else str(state)
        if value == "done":
            yield False
            return
        raise SideEffectUncertain(key, float(value.partition(":")[2] or 0))

    def clear(self, key: str) -> bool:
        """Forget ``key`` (after a person verified the side effect did not happen); True if it existed."""
        return bool(self.connection.delete(self.prefix + key))

    def mark_done(self, key: str) -> None:
        """Record ``key`` as done (after a person verified the side effect did happen)."""
        self.connection.set(self.prefix + key, "done", ex=self.ttl_s)
