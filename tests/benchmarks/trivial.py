"""The trivial jobs both workers drain: a plain RQ function and a stalwart job doing the same nothing."""

from __future__ import annotations

from jobs import Job


def plain_noop(n: int) -> int:
    return n


class Noop(Job):
    name = "bench.Noop"

    def perform(self, n: int) -> int:
        return n


class Fails(Job):
    name = "bench.Fails"

    def perform(self, n: int) -> None:
        raise LookupError(f"record {n} not found")
