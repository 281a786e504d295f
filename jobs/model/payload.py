"""Job payloads: JSON only, checked before anything is enqueued, decoded only through the registry::

    payload = {"job": "<registered name>", "kwargs": {...}, "meta": {"request_id": ..., "enqueued_at": ...}}

How RQ wraps a payload is the RQ adapter's business; this module knows the
payload alone. The size limit is measured on what RQ stores, so the adapter
checks it (``rq_adapter.envelope.check_size``); every other rule is here, and
the worker applies the same ones (``check_arguments``, the same ``Limits``).
"""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from ..errors import PayloadError, UnknownJobError
from .definition import REGISTRY, JobDefinition
from .limits import DEFAULT_LIMITS, Limits, nesting_depth
from .types_check import mismatch

PAYLOAD_VERSION = 1


def build(
    job: type[JobDefinition],
    kwargs: dict[str, Any],
    request_id: str,
    *,
    idempotency_key: str | None = None,
    replay_of: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """The payload for ``job(**kwargs)``; raises PayloadError naming the argument at fault.

    A replay passes the dead-letter entry it replays and that entry's
    idempotency key, so the third party sees the same key as the first time.
    """
    check_arguments(job, kwargs)
    for argument, value in kwargs.items():
        # Depth first, iteratively: everything after it (json, the idempotency key) recurses.
        _check_depth(job.name, argument, value, limits.max_depth)
        _check_json(job.name, argument, value)
    check_types(job, kwargs)
    meta: dict[str, Any] = {
        "v": PAYLOAD_VERSION,
        "request_id": request_id,
        "idempotency_key": idempotency_key or job.idempotency_key_for(**kwargs),
        "enqueued_at": datetime.now(timezone.utc).isoformat(),
    }
    if replay_of is not None:
        meta["replay_of"] = replay_of
    return {"job": job.name, "kwargs": kwargs, "meta": meta}


# Names a keyword argument can never have: ``perform(self, **kwargs)`` would get two values for ``self``,
# and the class's ``idempotency_key_for(cls, **kwargs)`` two for ``cls``.
RESERVED = frozenset({"self", "cls"})


@functools.lru_cache(maxsize=1024)
def _signature(perform: Any) -> tuple[dict[str, inspect.Parameter], frozenset[str]]:
    # Cached per function: a worker checks every payload against the same few signatures.
    # The parameters after the bound first one (options.py refuses positional ones), and the names a
    # keyword may not have: the reserved ones and the bound first parameter's own.
    listed = list(inspect.signature(perform).parameters.items())
    return dict(listed[1:]), RESERVED | {name for name, _ in listed[:1]}


def check_arguments(job: type[JobDefinition], kwargs: dict[str, Any]) -> None:
    """Raise PayloadError unless ``perform`` accepts exactly these keyword arguments."""
    parameters, reserved = _signature(job.perform)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    for argument in kwargs:
        if argument in reserved:
            raise PayloadError(
                job.name,
                argument,
                "is a reserved name (perform() and the job class use it themselves); rename the argument",
            )
        if argument not in parameters and not takes_any:
            accepted = ", ".join(n for n, p in parameters.items() if p.kind is not p.VAR_KEYWORD)
            raise PayloadError(
                job.name, argument, f"is not accepted by perform() (it takes: {accepted or 'nothing'})"
            )
    for name, parameter in parameters.items():
        required = parameter.default is parameter.empty and parameter.kind not in (
            parameter.VAR_KEYWORD,
            parameter.VAR_POSITIONAL,
        )
        if required and name not in kwargs:
            raise PayloadError(job.name, name, "is required by perform() but was not given")


def check_types(job: type[JobDefinition], kwargs: dict[str, Any]) -> None:
    """Raise PayloadError naming the first argument whose value does not fit its annotation in
    ``perform`` (for JSON's types; other annotations are not checked: ``types_check``)."""
    wrong = mismatch(job, kwargs)
    if wrong is not None:
        raise PayloadError(job.name, *wrong)


def _check_depth(job: str, argument: str, value: Any, max_depth: int) -> None:
    if nesting_depth(value, max_depth) > max_depth:
        raise PayloadError(
            job,
            argument,
            f"nests lists or dicts more than {max_depth} levels deep (the limit); pass a flatter "
            "structure, or store it elsewhere and pass its id (or raise STALWART_MAX_PAYLOAD_DEPTH)",
        )


def _check_json(job: str, argument: str, value: Any) -> None:
    try:
        encoded = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise PayloadError(
            job, argument, f"is not JSON-serialisable ({err}); pass plain data such as ids and strings"
        ) from err
    if json.loads(encoded) != value:
        raise PayloadError(
            job,
            argument,
            "would change on its way through JSON (a tuple, or a dict with non-string keys); "
            "pass a list or a dict with string keys",
        )


class PoisonPayload(Exception):
    """A payload that can never run: corrupt, unknown job, or arguments ``perform`` rejects."""


@dataclass(frozen=True)
class Decoded:
    """A payload that passed every check: the class to run and its arguments."""

    job: type[JobDefinition]
    kwargs: dict[str, Any]
    request_id: str | None
    idempotency_key: str
    replay_of: str | None = None
    # The tick a periodic job's run is for (``meta["scheduled_for"]``), in the job's cron_timezone.
    scheduled_for: datetime | None = None


def decode(payload: Any) -> Decoded:
    """Turn a stored payload into a runnable job, or raise PoisonPayload saying why it cannot run."""
    if not isinstance(payload, dict) or not isinstance(payload.get("kwargs"), dict):
        raise PoisonPayload("the payload is not a stalwart job payload (no 'job' and 'kwargs')")
    try:
        job = REGISTRY.resolve(payload.get("job"))
    except UnknownJobError as err:
        raise PoisonPayload(str(err)) from err
    kwargs: dict[str, Any] = payload["kwargs"]
    try:
        check_arguments(job, kwargs)
        check_types(job, kwargs)
    except PayloadError as err:
        raise PoisonPayload(str(err)) from err
    raw_meta = payload.get("meta")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    request_id = meta.get("request_id")
    key = meta.get("idempotency_key")
    replay_of = meta.get("replay_of")
    return Decoded(
        job=job,
        kwargs=kwargs,
        request_id=request_id if isinstance(request_id, str) else None,
        idempotency_key=key if isinstance(key, str) and key else job.idempotency_key_for(**kwargs),
        replay_of=replay_of if isinstance(replay_of, str) else None,
        scheduled_for=_scheduled_for(job, meta.get("scheduled_for")),
    )


def _scheduled_for(job: type[JobDefinition], value: Any) -> datetime | None:
    """The tick's time from the payload, aware; shown in the job's ``cron_timezone`` when it has one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    zone = getattr(job, "cron_timezone", None)
    return moment.astimezone(ZoneInfo(zone)) if isinstance(zone, str) else moment
