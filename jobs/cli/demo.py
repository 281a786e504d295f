"""``stalwart demo``: bill customers against a flaky gateway on an embedded Redis, and prove the result."""

from __future__ import annotations

import argparse

from ..demo.run import run_demo


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(charges=args.charges, workers=args.workers)
