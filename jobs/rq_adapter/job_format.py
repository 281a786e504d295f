"""``SafeRQJob``: RQ's job class, minus every path by which a job hash could steer a worker.

What RQ stores for a stalwart job is ``envelope``: ``(ENTRY_POINT, None, [], payload)``.
RQ resolves a job's function, and its success, failure and stopped callbacks,
by importing dotted names stored in Redis: anyone who can write to Redis could
name ``os.system``. Stalwart's workers use this class, which never resolves any
of them, reads only the job-hash fields stalwart needs (``job_hash``: never
webhooks, RQ's retries, callbacks or dependencies), and never raises on what it
reads: a malformed field is recorded (``corrupt``), and so is a payload it will
not decode (``decode_error``: over the size or depth limit, NaN, not JSON), so
that the worker can dead-letter the job as poison and go on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import redis
from rq.job import Job as RQJob
from rq.job import JobStatus
from rq.serializers import JSONSerializer
from rq.utils import now

from .. import _keys, settings
from ..model.limits import nesting_depth
from ..model.payload import Decoded, PoisonPayload, decode
from ..model.truncation import NAME_CHARS, PREVIEW_CHARS, cut_marker, shorten
from . import job_hash
from .envelope import CLAIMED_NAME, ENTRY_POINT, ENVELOPE_DEPTH, UNDECODABLE, openers


def job_key(job_id: str) -> str:
    """The key of RQ's hash for job ``job_id`` (it follows ``RQ_KEY_PREFIX``)."""
    return str(RQJob.key_for(job_id))


def attempt_token(number: int, execution_id: str) -> str:
    """The token of attempt ``number`` of a job, run as RQ's execution ``execution_id``."""
    return f"{number}:{execution_id}"


def token_execution(token: str) -> str:
    """The execution an attempt token names."""
    return token.partition(":")[2]


def _refuse(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("stalwart jobs run only inside a stalwart worker")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class SafeRQJob(RQJob):
    """RQ's job, minus every path by which a job hash could name code to import or steer the worker."""

    corrupt: str | None = None
    decode_error: str | None = None
    oversize: bool = False
    # Its key holds a string, a list...: nothing can be written to it as a hash.
    key_is_not_a_hash: bool = False
    previous_attempts: int = 0
    snoozed_since: float | None = None
    kills: int = 0
    # A unique job's claim on its idempotency key (rq_adapter/put.py), released when it ends.
    unique_claim: str | None = None
    history: list[dict[str, Any]] = []  # noqa: RUF012 - replaced per instance by restore()
    # The execution (RQ's) the worker runs this attempt as, named before the attempt starts; and the
    # attempt's token once it has started (see finishing/fence.py).
    execution_id: str | None = None
    token: str | None = None

    @classmethod
    def fetch_many(
        cls, job_ids: Iterable[str], connection: redis.Redis, serializer: Any = None
    ) -> list[RQJob | None]:
        """RQ's bulk fetch (None for a job Redis no longer holds), where a key holding no hash is a
        corrupt job, not an error that fails the whole batch."""
        ids = list(job_ids)
        with connection.pipeline() as pipeline:
            for job_id in ids:
                pipeline.hgetall(cls.key_for(job_id))
            replies = pipeline.execute(raise_on_error=False)
        jobs: list[RQJob | None] = []
        for job_id, reply in zip(ids, replies, strict=True):
            job = cls(job_id, connection=connection, serializer=serializer)
            if isinstance(reply, redis.ResponseError) and "WRONGTYPE" in str(reply):
                job.restore({b"data": b""})
                job.corrupt, job.key_is_not_a_hash = f"its key holds no hash ({reply})", True
            elif isinstance(reply, Exception):
                raise reply
            elif not reply:
                jobs.append(None)
                continue
            else:
                job.restore(reply)
            jobs.append(job)
        return jobs

    def refresh(self) -> None:
        """Read the job hash again; a key that is not a hash makes the job corrupt, not an error."""
        try:
            super().refresh()  # type: ignore[no-untyped-call]
        except redis.ResponseError as err:
            if "WRONGTYPE" not in str(err):
                raise
            self.restore({b"data": b""})
            self.corrupt, self.key_is_not_a_hash = f"its key holds no hash ({err})", True

    def restore(self, raw_data: Any) -> None:
        """Load the fields stalwart reads (and nothing else) from the job hash; never raises."""
        limits = settings.current().limits
        read = job_hash.read(raw_data, limits)
        values = read.values
        self.corrupt, self.key_is_not_a_hash = read.corrupt, False
        self.data = read.data
        self.oversize = read.oversize
        self.decode_error = (
            f"is over the {limits.max_payload_bytes}-byte limit (STALWART_MAX_PAYLOAD_BYTES); it was "
            "truncated there, unread: not decoded, its arguments unknown"
            if read.oversize
            else None
        )
        self.created_at = values.get("created_at") or now()
        self.enqueued_at = _date(values, "enqueued_at")
        self.started_at = _date(values, "started_at")
        self.ended_at = _date(values, "ended_at")
        self.last_heartbeat = _date(values, "last_heartbeat")
        self.origin = values.get("origin", "")
        self.worker_name = values.get("worker_name")
        self.description = values.get("description")
        self.timeout = values.get("timeout")
        self.result_ttl = values.get("result_ttl")
        self.failure_ttl = values.get("failure_ttl")
        self.ttl = values.get("ttl")
        self._status = values.get("status", JobStatus.CREATED)
        self.enqueue_at_front = values.get("enqueue_at_front")
        self._exc_info = read.exc_info
        self.previous_attempts = values.get(_keys.FIELD_ATTEMPT, 0)
        self.history = values.get(_keys.FIELD_HISTORY, [])
        self.snoozed_since = values.get(_keys.FIELD_SNOOZED_SINCE)
        self.kills = values.get(_keys.FIELD_KILLS, 0)
        self.unique_claim = values.get(_keys.FIELD_UNIQUE)

    def _deserialize_data(self) -> None:
        # JSON without NaN or Infinity (enqueue refuses them), then the depth limit, before anything
        # walks it; a payload that fails is recorded (not raised), so the worker can make it poison.
        if self.decode_error is None:
            try:
                decoded = json.loads(self.data, parse_constant=_no_constant)
            except RecursionError:
                self.decode_error = "cannot be decoded (it nests deeper than the JSON decoder goes)"
            except ValueError as err:
                self.decode_error = f"cannot be decoded ({type(err).__name__}: {shorten(str(err), 200)})"
            else:
                self._check_decoded(decoded)
                if self.decode_error is None:
                    self._func_name, self._instance, self._args, self._kwargs = decoded
                    return
        self._func_name, self._instance, self._args, self._kwargs = UNDECODABLE, None, (), {}

    def _check_decoded(self, decoded: Any) -> None:
        max_depth = settings.current().limits.max_depth
        if not isinstance(decoded, list) or len(decoded) != 4:
            self.decode_error = "cannot be decoded (it is not RQ's [function, instance, args, kwargs])"
        elif openers(self.data) > max_depth + ENVELOPE_DEPTH and (
            nesting_depth(decoded, max_depth + ENVELOPE_DEPTH) > max_depth + ENVELOPE_DEPTH
        ):
            self.decode_error = (
                f"nests lists or dicts more than {max_depth} levels deep in an argument (the limit, "
                "STALWART_MAX_PAYLOAD_DEPTH); it was not decoded further"
            )

    def mark_started(self, worker_name: str, at: datetime, token: str) -> None:
        """Note on this object what ``start.start_attempt`` wrote to the job's hash."""
        self.worker_name, self.last_heartbeat, self.started_at = worker_name, at, at
        self._status = JobStatus.STARTED
        self.token = token

    @property
    def func(self) -> Callable[..., Any]:
        return _refuse

    @property
    def success_callback(self) -> None:
        return None

    @property
    def failure_callback(self) -> None:
        return None

    @property
    def stopped_callback(self) -> None:
        return None

    @property
    def should_retry(self) -> bool:
        """Never: attempts are stalwart's alone (RQ's ``retries_left`` is not even read)."""
        return False

    def send_webhooks(self, status: str | JobStatus, *, exc_string: str | None = None) -> None:
        """Never: a job hash names no URL a worker will call (RQ's ``webhooks`` is not even read)."""

    # -- what the payload says, for running it and for records of a job that cannot run -----------

    def decoded(self) -> Decoded:
        """The runnable job this RQ job carries; raises PoisonPayload saying why it cannot run."""
        if self.corrupt:
            raise PoisonPayload(f"its job hash is corrupt: {self.corrupt}; it was not run")
        if self.func_name == UNDECODABLE or self.decode_error:
            raise PoisonPayload(f"the payload {self.decode_error}")
        if self.func_name != ENTRY_POINT or self.instance is not None or self.args:
            raise PoisonPayload(
                f"the payload names the function {shorten(str(self.func_name), NAME_CHARS)!r}, not a "
                "stalwart job; it was not imported or run"
            )
        return decode(self.kwargs)

    @property
    def meta_fields(self) -> Mapping[str, Any]:
        """The payload's metadata (request id, idempotency key, replay link), or nothing."""
        payload = self.kwargs if isinstance(self.kwargs, Mapping) else {}
        found = payload.get("meta")
        return found if isinstance(found, Mapping) else {}

    def claimed(self) -> tuple[str, dict[str, Any], str | None]:
        """The job name, kwargs and request id the payload claims, for the record of a job that cannot run.

        Names are cut short (a forged name can be megabytes long); the kwargs are kept whole, for replay.
        """
        payload = self.kwargs if isinstance(self.kwargs, Mapping) else {}
        name = payload.get("job")
        kwargs = payload.get("kwargs")
        request_id = self.meta_fields.get("request_id")
        if not isinstance(name, str):
            name = self._peeked_name()
        if not isinstance(name, str):
            # Not our payload: name the function it claims (RQ's description would show its arguments).
            func = self.func_name
            known = isinstance(func, str) and func not in (ENTRY_POINT, UNDECODABLE)
            name = func if known and isinstance(func, str) else "<unknown>"
        return (
            shorten(name, NAME_CHARS),
            dict(kwargs) if isinstance(kwargs, Mapping) else {},
            shorten(request_id, NAME_CHARS) if isinstance(request_id, str) else None,
        )

    def _peeked_name(self) -> str | None:
        """The job name at the start of a payload that was not decoded (too big), for its record only."""
        if self.func_name != UNDECODABLE:
            return None
        found = CLAIMED_NAME.match(self.data[:1024])
        try:
            name = json.loads(found.group(1)) if found else None
        except ValueError:
            return None
        return name if isinstance(name, str) else None

    def raw_payload(self) -> str:
        """What a poison job's payload was, for a person to look at (its start, marked when cut)."""
        if self.func_name != UNDECODABLE:
            return shorten(repr(self.func_name), PREVIEW_CHARS)
        shown = repr(self.data[:PREVIEW_CHARS])
        if self.oversize:
            return shown + cut_marker(f"over {settings.current().limits.max_payload_bytes:,} bytes")
        if len(self.data) > PREVIEW_CHARS:
            return shown + cut_marker(f"{len(self.data):,} bytes")
        return shown


def _date(values: Mapping[str, Any], name: str) -> datetime | None:
    found = values.get(name)
    return found if isinstance(found, datetime) else None


def fetch(connection: redis.Redis, job_id: str) -> SafeRQJob:
    """The job ``job_id`` as a SafeRQJob; raises rq's NoSuchJobError if Redis holds no such job."""
    job = SafeRQJob.fetch(job_id, connection=connection, serializer=JSONSerializer)
    if not isinstance(job, SafeRQJob):
        raise TypeError(f"expected a SafeRQJob, got {type(job).__name__}")
    return job
