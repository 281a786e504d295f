"""Enqueue the sweeper: ``python -m examples.signup.sweep``, from cron every five minutes.

    */5 * * * *  cd /srv/app && .venv/bin/python -m examples.signup.sweep

Enqueueing (rather than sweeping here) lets a worker run it with the job's guarantees: a sweep that
fails is dead-lettered and alerted, like any job.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from jobs import connect

from .signup import SWEEP_AFTER_S, SweepActivationEmails


def main(argv: Sequence[str] | None = None) -> int:
    """Enqueue one sweep and say so."""
    parser = argparse.ArgumentParser(prog="python -m examples.signup.sweep", description=__doc__)
    parser.add_argument(
        "--older-than-s",
        type=int,
        default=SWEEP_AFTER_S,
        help=f"repair users owed an email for longer than this (default {SWEEP_AFTER_S})",
    )
    args = parser.parse_args(argv)
    handle = SweepActivationEmails.enqueue(connection=connect(), older_than_s=args.older_than_s)
    print(
        f"enqueued {SweepActivationEmails.name} as job {handle.id} on queue {SweepActivationEmails.queue!r}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
