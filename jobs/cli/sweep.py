"""``stalwart dlq sweep``: move jobs left in RQ's failed registries into the dead-letter queue."""

from __future__ import annotations

import argparse

from ..connection import connect
from ..runtime.sweep import sweep


def cmd_sweep(args: argparse.Namespace) -> int:
    moved = sweep(connect(), args.queues or ["default"])
    print(f"moved {len(moved)} jobs from RQ's failed registries into the dead-letter queue")
    return 0
