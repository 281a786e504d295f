"""``SafeRQJob``: RQ's job class, minus every path by which a job hash could name code to run.

What RQ stores for a stalwart job is ``(ENTRY_POINT, None, [], payload)``.
RQ resolves a job's function, and its success, failure and stopped callbacks,
by importing dotted names stored in Redis: anyone who can write to Redis could
name ``os.system``. Stalwart's workers use this class, which never resolves any
of them, records (rather than raises) a payload it cannot decode, and loads the
attempt count and history stalwart keeps in the job hash.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import redis
from redis.client import Pipeline
from rq.job import Job as RQJob
from rq.serializers import JSONSerializer

from .. import _keys
from ..model.payload import Decoded, PoisonPayload, decode

# The one function name every stalwart job carries in RQ's payload. Workers
# compare against it and never import it: a payload naming anything else is poison.
ENTRY_POINT = "stalwart.run"
UNDECODABLE = "<undecodable>"


def job_key(job_id: str) -> str:
    """The key of RQ's hash for job ``job_id`` (it follows ``RQ_KEY_PREFIX``)."""
    return str(RQJob.key_for(job_id))


def attempt_token(number: int, execution_id: str) -> str:
    """The token of attempt ``number`` of a job, run as RQ's execution ``execution_id``."""
    return f"{number}:{execution_id}"


def token_execution(token: str) -> str:
    """The execution an attempt token names."""
    return token.partition(":")[2]


def _field(raw_data: Mapping[Any, Any], name: str) -> Any:
    return raw_data.get(name.encode(), raw_data.get(name))


def _refuse(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("stalwart jobs run only inside a stalwart worker")


class SafeRQJob(RQJob):
    """RQ's job, minus every path by which a payload could name code to import."""

    decode_error: str | None = None
    previous_attempts: int = 0
    snoozed_since: float | None = None
    history: list[dict[str, Any]] = []  # noqa: RUF012 - replaced per instance by restore()
    # The execution (RQ's) the worker runs this attempt as, named before the attempt starts; and the
    # attempt's token once it has started (see finishing/fence.py).
    execution_id: str | None = None
    token: str | None = None

    def _deserialize_data(self) -> None:
        # A corrupt payload is recorded rather than raised, so the worker can dead-letter it as poison.
        try:
            super()._deserialize_data()  # type: ignore[no-untyped-call]
        except Exception as err:  # noqa: BLE001 - any decoding failure makes the payload poison
            self.decode_error = f"{type(err).__name__}: {err.__cause__ or err}"
            self._func_name, self._instance, self._args, self._kwargs = UNDECODABLE, None, (), {}

    def restore(self, raw_data: Any) -> Any:
        """Load RQ's fields, and the attempts already made, from the job hash."""
        result = super().restore(raw_data)
        raw = _field(raw_data, _keys.FIELD_ATTEMPT)
        self.previous_attempts = int(raw) if raw else 0
        raw = _field(raw_data, _keys.FIELD_HISTORY)
        self.history = json.loads(raw) if raw else []
        raw = _field(raw_data, _keys.FIELD_SNOOZED_SINCE)
        self.snoozed_since = float(raw) if raw else None
        return result

    def prepare_for_execution(self, worker_name: str, pipeline: Pipeline) -> None:
        """RQ's "started" bookkeeping, plus the attempt count and token, in RQ's own pipeline."""
        super().prepare_for_execution(worker_name, pipeline)
        number = self.previous_attempts + 1
        self.token = attempt_token(number, self.execution_id or uuid.uuid4().hex)
        pipeline.hset(self.key, mapping={_keys.FIELD_ATTEMPT: number, _keys.FIELD_TOKEN: self.token})

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

    # -- what the payload says, for running it and for records of a job that cannot run -----------

    def decoded(self) -> Decoded:
        """The runnable job this RQ job carries; raises PoisonPayload saying why it cannot run."""
        if self.decode_error:
            raise PoisonPayload(f"the payload cannot be decoded ({self.decode_error})")
        if self.func_name != ENTRY_POINT or self.instance is not None or self.args:
            raise PoisonPayload(
                f"the payload names the function {self.func_name!r}, not a stalwart job; "
                "it was not imported or run"
            )
        return decode(self.kwargs)

    @property
    def meta_fields(self) -> Mapping[str, Any]:
        """The payload's metadata (request id, idempotency key, replay link), or nothing."""
        payload = self.kwargs if isinstance(self.kwargs, Mapping) else {}
        found = payload.get("meta")
        return found if isinstance(found, Mapping) else {}

    def claimed(self) -> tuple[str, dict[str, Any], str | None]:
        """The job name, kwargs and request id the payload claims, for the record of a job that cannot run."""
        payload = self.kwargs if isinstance(self.kwargs, Mapping) else {}
        name = payload.get("job")
        kwargs = payload.get("kwargs")
        request_id = self.meta_fields.get("request_id")
        if not isinstance(name, str):
            # Not our payload: name the function it claims (RQ's description would show its arguments).
            func = self.func_name
            known = isinstance(func, str) and func not in (ENTRY_POINT, UNDECODABLE)
            name = func if known and isinstance(func, str) else "<unknown>"
        return (
            name,
            dict(kwargs) if isinstance(kwargs, Mapping) else {},
            request_id if isinstance(request_id, str) else None,
        )

    def raw_payload(self) -> str:
        """What a poison job's payload was, for a person to look at (at most 2,000 bytes of it)."""
        return repr(self.data[:2000]) if self.decode_error else repr(self.func_name)


def fetch(connection: redis.Redis, job_id: str) -> SafeRQJob:
    """The job ``job_id`` as a SafeRQJob; raises rq's NoSuchJobError if Redis holds no such job."""
    job = SafeRQJob.fetch(job_id, connection=connection, serializer=JSONSerializer)
    if not isinstance(job, SafeRQJob):
        raise TypeError(f"expected a SafeRQJob, got {type(job).__name__}")
    return job
