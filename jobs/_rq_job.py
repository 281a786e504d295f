"""``SafeRQJob``: RQ's job class, minus every path by which a payload could name code to import.

RQ resolves a job's function, and its success, failure and stopped callbacks,
by importing dotted names stored in Redis. Anyone who can write to Redis could
name ``os.system``. Stalwart's workers use this class, which never resolves
any of them, records (rather than raises) a payload it cannot decode, and
loads the attempt count and history stalwart keeps in the job hash.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from redis.client import Pipeline
from rq.job import Job as RQJob

from . import _keys


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

    def _deserialize_data(self) -> None:
        # A corrupt payload is recorded rather than raised, so the worker can dead-letter it as poison.
        try:
            super()._deserialize_data()  # type: ignore[no-untyped-call]
        except Exception as err:  # noqa: BLE001 - any decoding failure makes the payload poison
            self.decode_error = f"{type(err).__name__}: {err.__cause__ or err}"
            self._func_name, self._instance, self._args, self._kwargs = "<undecodable>", None, (), {}

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
        """RQ's "started" bookkeeping, plus the attempt count, in RQ's own pipeline."""
        super().prepare_for_execution(worker_name, pipeline)
        pipeline.hset(self.key, _keys.FIELD_ATTEMPT, self.previous_attempts + 1)

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
