"""A periodic job's spec: what a scheduler needs to enqueue its ticks without importing its class.

Every worker publishes the specs of the periodic jobs it imported (``runtime.periodic.publish``), so the
fleet's leader can tick a job its own process never imported. A tick's job is named by the job and the
tick (``tick_job_id``), so a tick written twice is one job.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import JobDefinitionError, PayloadError
from . import payload
from .definition import JobDefinition
from .schedule import CATCH_UP, Schedule, iso

# Job ids of ticks: uuid5 of the job name and the tick, in a namespace of our own.
_TICK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://stalwart.invalid/periodic")


@dataclass(frozen=True)
class PeriodicSpec:
    """One periodic job as published to Redis: its schedule, policy for missed ticks, and job fields."""

    name: str
    queue: str
    schedule: Schedule
    catch_up: str = "latest"
    grace_s: float | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 600
    result_ttl_s: float = 24 * 3600

    def to_json(self) -> str:
        """The spec as stored in Redis."""
        return json.dumps(
            {
                "name": self.name,
                "queue": self.queue,
                "cron": self.schedule.cron,
                "every_s": self.schedule.every_s,
                "timezone": self.schedule.timezone,
                "catch_up": self.catch_up,
                "grace_s": self.grace_s,
                "kwargs": self.kwargs,
                "timeout_s": self.timeout_s,
                "result_ttl_s": self.result_ttl_s,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> PeriodicSpec:
        """A spec read back from Redis; raises ValueError for one this version cannot read."""
        try:
            data = json.loads(raw)
            spec = cls(
                name=str(data["name"]),
                queue=str(data["queue"]),
                schedule=Schedule(
                    cron=data.get("cron"), every_s=data.get("every_s"), timezone=data["timezone"]
                ),
                catch_up=str(data["catch_up"]),
                grace_s=data.get("grace_s"),
                kwargs=dict(data.get("kwargs") or {}),
                timeout_s=float(data["timeout_s"]),
                result_ttl_s=float(data["result_ttl_s"]),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"not a periodic job spec ({type(err).__name__}: {err})") from err
        if spec.catch_up not in CATCH_UP:
            raise ValueError(f"periodic job {spec.name}: unknown catch_up {spec.catch_up!r}")
        return spec


def is_periodic(job: type[JobDefinition]) -> bool:
    """Whether the class declares a schedule (``cron`` or ``every_s``)."""
    return getattr(job, "cron", None) is not None or getattr(job, "every_s", None) is not None


def spec_of(job: type[JobDefinition]) -> PeriodicSpec:
    """The spec of a periodic job class (its options were checked when it was defined)."""
    return PeriodicSpec(
        name=job.name,
        queue=job.queue,
        schedule=Schedule(cron=job.cron, every_s=job.every_s, timezone=job.cron_timezone or "UTC"),
        catch_up=job.catch_up,
        grace_s=job.grace_s,
        kwargs=dict(job.periodic_kwargs),
        timeout_s=job.timeout_s,
        result_ttl_s=job.result_ttl_s,
    )


def check_kwargs(job: type[JobDefinition]) -> None:
    """At class definition: ``perform`` must accept ``periodic_kwargs`` (none by default) as enqueue would.

    Raises JobDefinitionError with the payload check's reason.
    """
    label = f"{job.__module__}.{job.__qualname__}"
    try:
        payload.build(job, dict(job.periodic_kwargs), "class-definition")
    except PayloadError as err:
        where = f"its argument {err.argument!r}" if err.argument else "its payload"
        missing = err.argument is not None and err.argument not in job.periodic_kwargs
        fix = "give it a default, or set periodic_kwargs = {...}" if missing else "fix periodic_kwargs"
        raise JobDefinitionError(
            f"{label} is periodic: each tick calls perform(**periodic_kwargs), with "
            f"{job.periodic_kwargs!r}, and {where} {err.problem}; {fix}"
        ) from err


def tick_job_id(name: str, tick: float) -> str:
    """The job id of ``name``'s run for ``tick``: the same on every host, so a replayed tick is one job."""
    return str(uuid.uuid5(_TICK_NAMESPACE, f"{name}@{iso(tick)}"))


def tick_body(spec: PeriodicSpec, tick: float, request_id: str, enqueued_at: datetime) -> dict[str, Any]:
    """The payload of the run for ``tick``: ``meta`` says which periodic job and tick it is.

    Its idempotency key names the tick: each tick is a distinct run for a third party, and a replay of a
    tick's dead-letter entry keeps its key.
    """
    key = hashlib.sha256(f"{spec.name}@{iso(tick)}".encode()).hexdigest()[:32]
    return {
        "job": spec.name,
        "kwargs": dict(spec.kwargs),
        "meta": {
            "v": payload.PAYLOAD_VERSION,
            "request_id": request_id,
            "idempotency_key": key,
            "enqueued_at": enqueued_at.isoformat(),
            "periodic": spec.name,
            "scheduled_for": iso(tick),
        },
    }
