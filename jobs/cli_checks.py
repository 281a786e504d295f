"""``stalwart check`` and ``stalwart watch``: run the invariants and threshold rules, and alert."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from typing import Any

import redis

from . import invariants, logs, rules
from .alerts import Dispatcher, SentrySink, sinks_from_environment
from .connection import connect
from .worker import add_import_option, import_job_modules


def _run_invariant(connection: redis.Redis, item: invariants.Invariant, sentry: SentrySink | None) -> bool:
    finding = invariants.run(item)
    violated = invariants.report(connection, item, finding)
    if sentry is not None:
        sentry.check_in(f"stalwart-invariant-{item.name}", finding.ok, finding.duration_s, item.every_s)
    state = (
        "ok"
        if finding.ok
        else (f"COULD NOT RUN: {finding.error}" if finding.error else f"VIOLATED by {finding.counted}")
    )
    print(f"invariant {item.name}: {state}", flush=True)
    return violated


def _run_rule(connection: redis.Redis, rule: rules.Rule) -> bool:
    broken = rules.evaluate(connection, rule)
    print(f"rule {rule.name}: {'BROKEN' if broken else 'ok'}", flush=True)
    return broken


def _setup(args: argparse.Namespace) -> tuple[redis.Redis, Dispatcher, SentrySink | None]:
    import_job_modules(args.imports)
    logs.configure(args.log_level)
    if not invariants.registered() and not rules.registered():
        from .errors import ConfigurationError

        raise ConfigurationError(
            f"no invariants or rules are declared in {', '.join(args.imports)}; declare them with "
            "@jobs.invariant(...) or jobs.rules.count_above(...)"
        )
    connection = connect()
    sinks = sinks_from_environment()
    sentry = next((s for s in sinks if isinstance(s, SentrySink)), None)
    return connection, Dispatcher(connection, sinks), sentry


def cmd_check(args: argparse.Namespace) -> int:
    connection, dispatcher, sentry = _setup(args)
    problems = sum(_run_invariant(connection, item, sentry) for item in invariants.registered().values())
    problems += sum(_run_rule(connection, rule) for rule in rules.registered().values())
    dispatcher.stop()  # deliver the alerts just raised, now: no worker may be running
    return 1 if problems else 0


def cmd_watch(args: argparse.Namespace) -> int:
    connection, dispatcher, sentry = _setup(args)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    dispatcher.start()
    due: dict[str, float] = {}
    try:
        while not stopping.is_set():
            now = time.monotonic()
            for item in invariants.registered().values():
                if due.get(item.name, 0.0) <= now:
                    _run_invariant(connection, item, sentry)
                    due[item.name] = now + item.every_s
            if due.get("rules", 0.0) <= now:
                for rule in rules.registered().values():
                    _run_rule(connection, rule)
                due["rules"] = now + 60
            stopping.wait(max(0.1, min(due.values()) - time.monotonic()))
    finally:
        dispatcher.stop()
    return 0


def add_commands(commands: Any) -> None:
    """Attach ``check`` and ``watch`` to the CLI's sub-commands."""
    for name, run, text in (
        ("check", cmd_check, "run every invariant and rule once; exit 1 if any is violated"),
        ("watch", cmd_watch, "run each invariant on its schedule and the rules every minute, until stopped"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        add_import_option(sub, "declares invariants and rules")
        sub.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
        sub.set_defaults(parser=sub, run=run)
