"""The relay: moves committed outbox rows to Redis, then deletes them; each job exactly once.

One round: take a batch of rows, write their jobs to Redis in one pipeline,
delete the rows. On PostgreSQL the round is one transaction that locks its
rows (``FOR UPDATE SKIP LOCKED``), so several relays take disjoint batches. On
SQLite a transaction would lock the whole database, and the application's
writes with it, for as long as Redis takes to answer: the rows are read
without one, and deleted in a short ``BEGIN IMMEDIATE`` transaction (one
writer at a time) once their jobs are in Redis. Every job is written with the
id its row fixed, and only if no job with that id exists (``put(...,
if_absent=True)``): a relay killed after writing to Redis and before deleting
leaves the rows, the next round finds their jobs already in Redis, and only
deletes the rows (as it does when two relays read one SQLite row at once).
Redis is given ``REDIS_TIMEOUT_S`` per round: a Redis that stops answering
ends the round, it never holds the rows' locks for good.

Between rounds it waits: PostgreSQL wakes it at once (``LISTEN``; every
``outbox.enqueue`` notifies in the caller's transaction, so on commit), and
both poll every ``STALWART_OUTBOX_POLL_S`` (1 s) as the fallback. While Redis
or the database is down rows wait in the table; the relay backs off (0.5 s
doubling to 5 s) and says so once per episode. An outbox that keeps growing
(``STALWART_OUTBOX_ALERT_DEPTH`` rows, or a row older than
``STALWART_OUTBOX_ALERT_AGE_S``) raises one alert, across every relay.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from .. import _keys, settings
from ..connection.bounded import bounded
from ..connection.outage import describe, is_outage
from ..rq_adapter.enqueue import raw_job_of
from ..rq_adapter.put import put, reply
from ..telemetry.alerts import Alert, raise_on_change
from .backlog import Backlog, backlog_of
from .database import Database, check_url, connect, shown
from .table import CHANNEL, TABLE

log = logging.getLogger("stalwart.outbox")

BATCH = 500
MAX_BACKOFF_S = 5.0
# How often the relay measures the outbox for the growth alert.
MEASURE_EVERY_S = 5.0
# The longest a round's writes to Redis (and the growth alert's) may take before the round gives up.
REDIS_TIMEOUT_S = 5.0
# The longest a wait lasts before the thread looks at whether it is asked to stop.
_SLICE_S = 0.25

_COLUMNS = "id, job, queue, body, timeout_s, result_ttl_s, due, due_s, claim"


@dataclass(frozen=True)
class Round:
    """What one round did: jobs written, jobs found already in Redis, unique jobs whose claim was held."""

    written: int = 0
    existed: int = 0
    deduplicated: int = 0

    @property
    def rows(self) -> int:
        """Rows deleted from the outbox."""
        return self.written + self.existed + self.deduplicated


class Relay(threading.Thread):
    """A thread that moves the outbox at ``url`` into Redis (``connection``) until stopped.

    ``after_redis`` (for tests) is called with a batch's ids once they are in Redis, before their rows
    are deleted.
    """

    def __init__(
        self,
        url: str,
        connection: redis.Redis,
        *,
        batch: int = BATCH,
        poll_s: float | None = None,
        after_redis: Callable[[list[str]], None] | None = None,
    ) -> None:
        super().__init__(name="stalwart-outbox-relay", daemon=True)
        self.url = url
        self.dialect = check_url(url)
        self.connection = connection
        # Every call bounded in time, never retried by the client: the round retries, after a backoff.
        self._redis = bounded(connection, REDIS_TIMEOUT_S)
        self.batch = batch
        current = settings.current()
        self.poll_s = poll_s if poll_s is not None else current.outbox_poll_s
        self.alert_depth = current.outbox_alert_depth
        self.alert_age_s = current.outbox_alert_age_s
        self.after_redis = after_redis
        self.stopping = threading.Event()
        # Rows deleted in all, and of those the jobs found already in Redis (for tests and the benchmark),
        # and what is wrong now (said once).
        self.relayed = 0
        self.found_in_redis = 0
        self._trouble: str | None = None
        self._db: Database | None = None
        self._listener: Any = None
        self._measured_at = 0.0
        # One round at a time on the relay's connection: a burst worker also calls ``relay_once`` itself.
        self._round = threading.Lock()

    def run(self) -> None:
        backoff = 0.5
        log.info("the outbox relay moves jobs from %s to Redis", shown(self.url))
        while not self.stopping.is_set():
            try:
                done = self.relay_once()
                self._recovered(done)
                self._measure()
                backoff = 0.5
                if done.rows < self.batch:
                    self._wait(self.poll_s)
            except redis.RedisError as err:
                self._troubled("Redis", describe(err) if is_outage(err) else str(err), backoff)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            except Exception as err:  # noqa: BLE001 - the database's errors, or a bug: the relay must go on
                self._close()
                self._troubled("the database", f"{type(err).__name__}: {err}", backoff, err)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
        self._close()
        self._redis.connection_pool.disconnect()

    def stop(self, timeout_s: float = REDIS_TIMEOUT_S + 1) -> None:
        """End the thread after its current round (a round in flight commits or rolls back whole)."""
        self.stopping.set()
        if self.is_alive():
            self.join(timeout_s)

    # -- one round -------------------------------------------------------------------------------

    def relay_once(self) -> Round:
        """Move one batch of committed rows to Redis and delete them, in one database transaction."""
        with self._round:
            return self._relay_once()

    def _relay_once(self) -> Round:
        db = self._database()
        select = f"SELECT {_COLUMNS} FROM {TABLE} ORDER BY created_at LIMIT :n"
        if self.dialect == "sqlite":
            # Read outside a transaction (no lock is kept), write to Redis, then delete in a short one.
            rows = db.execute(select, {"n": self.batch})
            done = self._deliver(rows) if rows else Round()
            if rows:
                db.execute("BEGIN IMMEDIATE")
                try:
                    self._delete_rows(db, rows)
                    db.execute("COMMIT")
                except BaseException:
                    self._rollback(db)
                    raise
        else:
            db.execute("BEGIN")
            try:
                rows = db.execute(select + " FOR UPDATE SKIP LOCKED", {"n": self.batch})
                done = self._deliver(rows) if rows else Round()
                if rows:
                    self._delete_rows(db, rows)
                db.execute("COMMIT")
            except BaseException:
                self._rollback(db)
                raise
        self.relayed += done.rows
        self.found_in_redis += done.existed
        if done.existed:
            log.info(
                "the outbox relay found %d of its jobs already in Redis (written by a relay that stopped "
                "before deleting their rows, or, on SQLite, by another relay at the same moment): their rows "
                "are deleted, the jobs not written again",
                done.existed,
            )
        return done

    def _delete_rows(self, db: Database, rows: list[tuple[Any, ...]]) -> None:
        """Delete the rows whose jobs are in Redis (after the test hook, which may stop the relay first)."""
        if self.after_redis is not None:
            self.after_redis([str(row[0]) for row in rows])
        names = {f"i{n}": row[0] for n, row in enumerate(rows)}
        db.execute(f"DELETE FROM {TABLE} WHERE id IN ({', '.join(':' + k for k in names)})", names)

    def _deliver(self, rows: list[tuple[Any, ...]]) -> Round:
        """Write every row's job to Redis in one pipeline, each only if no job has its id yet."""
        with self._redis.pipeline(transaction=False) as pipeline:
            for job_id, job, queue, body, timeout_s, result_ttl_s, due, due_s, claim in rows:
                raw = raw_job_of(job, queue, timeout_s, result_ttl_s, _decoded(job_id, body), job_id=job_id)
                put(pipeline, raw, queue, when=due, seconds=float(due_s), claim=claim, if_absent=True)
            replies = [reply(r) for r in pipeline.execute()]
        return Round(
            written=sum(1 for p in replies if not p.existed and not p.deduplicated),
            existed=sum(1 for p in replies if p.existed),
            deduplicated=sum(1 for p in replies if p.deduplicated),
        )

    # -- waiting ---------------------------------------------------------------------------------

    def _wait(self, seconds: float) -> None:
        """Wait ``seconds``, or (PostgreSQL) until a transaction that enqueued commits."""
        if self.dialect == "sqlite":
            self.stopping.wait(seconds)
            return
        listener = self._listening()
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if any(True for _ in listener.notifies(timeout=min(left, _SLICE_S), stop_after=1)):
                # Several commits, one round: what else arrived meanwhile is read now, not waited for.
                for _ in listener.notifies(timeout=0.0):
                    pass
                return

    def _listening(self) -> Any:
        if self._listener is None:
            listener = connect(self.url)
            try:
                listener.execute(f"LISTEN {CHANNEL}")
            except BaseException:
                listener.close()
                raise
            self._listener = listener
        return self._listener

    # -- health ----------------------------------------------------------------------------------

    def _measure(self) -> None:
        """Every few seconds: one alert when the outbox keeps growing, re-armed once it is back."""
        if time.monotonic() - self._measured_at < MEASURE_EVERY_S:
            return
        self._measured_at = time.monotonic()
        with self._round:
            alert = self.growth_alert(backlog_of(self._database()))
        raise_on_change(self._redis, _keys.outbox_alerted(), alert)

    def growth_alert(self, now: Backlog) -> Alert | None:
        """The alert for an outbox that grew past its thresholds, or None while it is within them."""
        too_deep = now.rows > self.alert_depth
        too_old = now.oldest_s is not None and now.oldest_s > self.alert_age_s
        if not (too_deep or too_old):
            return None
        return Alert(
            title=f"the outbox holds {now.rows} jobs not yet in Redis",
            message=(
                f"The outbox at {shown(self.url)} holds {now.rows} rows (alert over {self.alert_depth}); the "
                f"oldest was committed {now.oldest_s or 0:.0f} s ago (alert over {self.alert_age_s:g} s). "
                "Nothing is lost: the rows wait in the table. Remediation: check that workers run with "
                "--outbox (or STALWART_OUTBOX_URL) and that Redis accepts writes; `stalwart stats --outbox "
                "URL` shows the backlog, and the workers' logs say what stops the relay."
            ),
            tags={"outbox": "growing"},
            fingerprint=["stalwart.outbox", "growing"],
            context={"rows": now.rows, "oldest_s": now.oldest_s},
        )

    def _troubled(self, what: str, why: str, backoff: float, err: Exception | None = None) -> None:
        """Say once per episode that rows wait, and why."""
        trouble = f"{what}: {why}"
        if self._trouble is None:
            log.warning(
                "the outbox relay cannot move jobs (%s); the rows wait in the outbox, nothing is lost; "
                "trying again in %.1f s, backing off to %.0f s",
                trouble,
                backoff,
                MAX_BACKOFF_S,
                exc_info=err if what != "Redis" and not _expected(err) else None,
            )
        self._trouble = trouble

    def _recovered(self, done: Round) -> None:
        if self._trouble is not None:
            log.info("the outbox relay moves jobs again (%d moved in its first round)", done.rows)
            self._trouble = None

    # -- connections -----------------------------------------------------------------------------

    def _database(self) -> Database:
        if self._db is None:
            target = connect(self.url)
            self._db = Database(target, self.dialect, "sqlite3" if self.dialect == "sqlite" else "psycopg")
        return self._db

    def _rollback(self, db: Database) -> None:
        try:
            db.execute("ROLLBACK")
        except Exception as err:  # noqa: BLE001 - the connection is dropped anyway: the database rolls back
            log.debug("rolling back the relay's transaction: %s", err)
            self._close()

    def _close(self) -> None:
        for target in (self._db.target if self._db is not None else None, self._listener):
            if target is not None:
                try:
                    target.close()
                except Exception as err:  # noqa: BLE001 - closing a broken connection
                    log.debug("closing the relay's connection: %s", err)
        self._db = None
        self._listener = None


class UnreadableRow(ValueError):
    """A row that ``outbox.enqueue`` did not write (its body is not a JSON payload): it stops the relay."""


def _decoded(job_id: str, body: str) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as err:
        payload = err
    if not isinstance(payload, dict):
        raise UnreadableRow(
            f"the outbox row {job_id} holds a body that is not a JSON payload, so no job can be made of it; "
            f"rows are written by outbox.enqueue only: delete that row (DELETE FROM {TABLE} WHERE id = "
            f"'{job_id}') and the relay goes on"
        )
    return payload


def _expected(err: Exception | None) -> bool:
    """A database that is down or locked is an episode to report, not a bug: no traceback."""
    name = type(err).__name__
    return name in ("OperationalError", "InterfaceError", "UnreadableRow") or err is None
