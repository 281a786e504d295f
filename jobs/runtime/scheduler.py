"""The scheduler: one per fleet moves jobs to their queues when they are due, on time and never early.

Every worker runs a ``Scheduler`` thread; one of them leads. The leader holds a
lease in Redis (``STALWART_SCHEDULER_LEASE_S``, 5 s) and renews it in the same
script that moves due jobs (``schedule.lead_and_move``), so a scheduler that
lost its lease (it stalled, Redis failed over) moves nothing. A leader that dies
stops renewing, and another worker's scheduler takes over when the lease
lapses: within the lease. A leader that stops (a warm shutdown) gives the lease
up at once.

Between rounds the leader waits until the next due time it knows of, listening
on the wake channel every write of a due time publishes on: an earlier job
wakes it at once. Waiting is local (a poll on the subscription's socket), so it
is precise to the millisecond; Redis's own blocking timeouts are not (they run
on its 100 ms clock). Idle, a scheduler sends one command per lease fifth
(once a second by default), leader or not.

What it does not do: it does not run jobs, and it never decides what a job is;
it moves ids from the due set to their queues, as RQ's scheduler did.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import redis
from redis.client import PubSub

from .. import _keys, settings
from ..connection.outage import describe, is_outage
from ..rq_adapter import schedule
from ..rq_adapter.queues import known_queues
from . import periodic

log = logging.getLogger("stalwart.scheduler")

MAX_BACKOFF_S = 5.0
# The longest a wait on the subscription lasts before the thread looks at whether it is asked to stop.
_SLICE_S = 0.25
# How often the leader looks in RQ's registries for jobs scheduled without a due time of ours: by RQ itself
# (``rq enqueue --schedule-in``), or by workers of a stalwart older than this scheduler during a rolling
# deploy. A pass reads each queue's registry whole (about 0.5 ms per 1,000 jobs).
ADOPT_EVERY_S = 60.0
# The leader ticks periodic jobs when one is due, when a worker publishes new ones, and at least this often.
TICK_EVERY_S = 60.0


class Scheduler(threading.Thread):
    """A worker's scheduler thread: leads (moves due jobs) while it holds the lease, or waits to."""

    def __init__(self, connection: redis.Redis, worker_name: str) -> None:
        super().__init__(name="stalwart-scheduler", daemon=True)
        self.connection = connection
        self.token = f"{worker_name}:{uuid.uuid4().hex[:8]}"
        self.lease_s = float(settings.current().scheduler_lease_s)
        self.stopping = threading.Event()
        self.leading = False
        # Jobs moved while leading, for tests and the stop line.
        self.moved = 0
        self._pubsub: PubSub | None = None
        self._adopted_at = 0.0
        # When the next periodic tick (or a late tick's deadline) is due, on Redis's clock; None: look now.
        self._next_tick: float | None = None
        self._ticked_at = 0.0

    def run(self) -> None:
        backoff = 0.5
        while not self.stopping.is_set():
            try:
                self._round()
                backoff = 0.5
            except redis.RedisError as err:
                self._lost(err, backoff)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            except Exception:
                # A bug here must not end scheduling for the fleet: logged, and the round tried again.
                log.exception("the scheduler's round failed; trying again in %.1f s", backoff)
                self._close()
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        self._resign()

    def stop(self, timeout_s: float = 2.0) -> None:
        """End the thread; a leader gives its lease up, so another scheduler takes over at once."""
        self.stopping.set()
        if self.is_alive():
            self.join(timeout_s)

    def _round(self) -> None:
        """Subscribe (before reading, so no wake is missed), renew the lease and move, then wait."""
        pubsub = self._subscribed()
        found = schedule.lead_and_move(self.connection, self.token, self.lease_s)
        if not found.leading:
            if self.leading:
                log.warning("the scheduler lost its lease to another worker's; it stops moving due jobs")
            self.leading = False
            # Try again as the holder's lease runs out, or within a renewal period, whichever is sooner.
            self._wait(pubsub, min(self.lease_s / 5, found.lease_left_s + 0.01), wakes=False)
            return
        if not self.leading:
            self.leading = True
            log.info(
                "this worker's scheduler leads: it moves due jobs to their queues and ticks periodic jobs"
            )
            self._adopted_at = 0.0
            self._next_tick = None
        if time.monotonic() - self._adopted_at >= ADOPT_EVERY_S:
            self._adopted_at = time.monotonic()
            adopted = schedule.adopt(self.connection, sorted(known_queues(self.connection)))
            if adopted:
                log.info("the scheduler took over %d jobs scheduled by RQ or an older stalwart", adopted)
                return  # they may be due already
        self.moved += found.moved
        if found.moved >= schedule.MOVE_BATCH:
            return  # more are due: move them now
        self._tick(found.now)
        wait = self.lease_s / 5
        for due in (found.next_due, self._next_tick):
            if due is not None:
                wait = min(wait, max(due - found.now, 0.0))
        self._wait(pubsub, wait, wakes=True)

    def _tick(self, now: float) -> None:
        """Enqueue the periodic ticks now due (each once: ``periodic.tick``), when there may be some."""
        looked = time.monotonic()
        if self._next_tick is not None and now < self._next_tick and looked - self._ticked_at < TICK_EVERY_S:
            return
        self._ticked_at = looked
        # None (no periodic job published) is looked at again within TICK_EVERY_S, or when one is.
        self._next_tick = periodic.tick(self.connection, now) or now + TICK_EVERY_S

    def _wait(self, pubsub: PubSub, seconds: float, *, wakes: bool) -> None:
        """Wait ``seconds``, or (``wakes``) until a due time is written; read every message either way."""
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            message = pubsub.get_message(ignore_subscribe_messages=True, timeout=min(left, _SLICE_S))
            if message is not None and wakes:
                while message is not None:  # several writes, one round
                    if message.get("data") in (periodic.PUBLISHED, periodic.PUBLISHED.encode()):
                        self._next_tick = None  # a worker published periodic jobs: tick them now
                    message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0)
                return

    def _subscribed(self) -> PubSub:
        if self._pubsub is None:
            pubsub = self.connection.pubsub()  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(_keys.schedule_wake())
            except BaseException:
                pubsub.close()
                raise
            self._pubsub = pubsub
        return self._pubsub

    def _lost(self, err: redis.RedisError, backoff: float) -> None:
        """A failed round: the subscription is dropped (made again next round), and the failure said once."""
        self._close()
        if self.leading:
            log.warning(
                "the scheduler: %s; trying again in %.1f s (its lease lapses if this lasts; another "
                "worker's scheduler may take over)",
                describe(err) if is_outage(err) else err,
                backoff,
            )
        self.leading = False
        if not is_outage(err):
            log.error("the scheduler's round failed on a Redis error: %s", err)

    def _close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                pubsub.close()
            except redis.RedisError as err:
                log.debug("closing the scheduler's subscription: %s", err)

    def _resign(self) -> None:
        self._close()
        if not self.leading:
            return
        self.leading = False
        try:
            schedule.resign(self.connection, self.token)
        except redis.RedisError as err:
            log.warning(
                "the scheduler stopped without giving up its lease (%s); another worker's scheduler takes "
                "over within %.0f s",
                err,
                self.lease_s,
            )
