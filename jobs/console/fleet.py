"""The fleet's pages: the queues (waiting, scheduled, running; workers alive), the per-minute rhythm from
``jobs.stats``, and ``/metrics`` (the Prometheus exporter's own rendering)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import redis
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .. import _keys, metrics, stats
from .context import ConsoleContext

RHYTHM_METRICS = ("succeeded", "negative", "retried", "dead_lettered")
MAX_RHYTHM_HOURS = 24


def workers_alive(connection: redis.Redis) -> list[str]:
    """The names of the worker processes whose liveness key has not expired."""
    marker = _keys.worker_alive("")
    return sorted(
        key[len(marker) :] if isinstance(key, str) else key.decode("utf-8", "replace")[len(marker) :]
        for key in connection.scan_iter(match=f"{marker}*", count=10_000)
    )


@dataclass(frozen=True)
class Row:
    """One minute of one job's rhythm: where it falls in the window, its counts, negatives by reason."""

    index: int
    minute: str
    counts: dict[str, float]
    reasons: dict[str, float]


def rhythm(
    connection: redis.Redis, hours: float, now: float | None = None
) -> tuple[int, dict[str, list[Row]]]:
    """How many minutes the last ``hours`` span, and per job the minutes with any count (oldest first)."""
    per_job: dict[str, list[Row]] = {}
    minutes = stats.per_minute(connection, hours * 3600, now)
    for index, (minute, counts) in enumerate(minutes):
        label = datetime.fromtimestamp(minute, timezone.utc).strftime("%Y-%m-%d %H:%M")
        for job, metrics_of in sorted(counts.items()):
            if job == stats.APP:
                continue
            shown = {m: metrics_of.get(m, 0.0) for m in RHYTHM_METRICS}
            reasons = {
                m.partition(".")[2]: v for m, v in sorted(metrics_of.items()) if m.startswith("negative.")
            }
            if any(shown.values()):
                per_job.setdefault(job, []).append(Row(index, label, shown, reasons))
    return len(minutes), per_job


def bars(rows: list[Row], minutes: int, width: int = 600, height: int = 60) -> list[dict[str, Any]]:
    """Rectangles of a stacked per-minute bar chart (an inline SVG, no script): one slot per minute of the
    window, so quiet minutes show as gaps."""
    if not rows or minutes < 1:
        return []
    peak = max(sum(r.counts.values()) for r in rows) or 1.0
    step = width / minutes
    shapes = []
    for row in rows:
        base = float(height)
        for metric in RHYTHM_METRICS:
            h = row.counts[metric] / peak * height
            if h > 0:
                base -= h
                shapes.append(
                    {
                        "x": round(row.index * step, 2),
                        "y": round(base, 2),
                        "w": round(max(step - 1, 1), 2),
                        "h": round(h, 2),
                        "metric": metric,
                        "title": f"{row.minute}: {metric} {row.counts[metric]:g}",
                    }
                )
    return shapes


class Fleet:
    """The queues, rhythm and metrics pages."""

    def __init__(self, ctx: ConsoleContext) -> None:
        self.ctx = ctx

    async def queues(self, request: Request) -> Response:
        me = self.ctx.who(request)
        now = await self.ctx.run(stats.gauges, self.ctx.connection)
        alive = await self.ctx.run(workers_alive, self.ctx.connection)
        return self.ctx.page(
            request,
            "queues.html",
            identity=me,
            queues=now["queues"],
            dead_letter=now["dead_letter"],
            workers=alive,
        )

    async def rhythm(self, request: Request) -> Response:
        me = self.ctx.who(request)
        try:
            hours = float(request.query_params.get("hours") or 1)
        except ValueError:
            hours = 1.0
        if not math.isfinite(hours):
            hours = 1.0
        hours = min(max(hours, 1 / 60), MAX_RHYTHM_HOURS)
        minutes, per_job = await self.ctx.run(rhythm, self.ctx.connection, hours, time.time())
        charts = {job: bars(rows, minutes) for job, rows in per_job.items()}
        return self.ctx.page(
            request,
            "rhythm.html",
            identity=me,
            per_job=per_job,
            charts=charts,
            hours=hours,
            metrics=RHYTHM_METRICS,
        )

    async def metrics(self, request: Request) -> Response:
        self.ctx.who(request)
        body = await self.ctx.run(lambda: metrics.render(metrics.read(self.ctx.connection)))
        return PlainTextResponse(body, media_type=metrics.CONTENT_TYPE)
