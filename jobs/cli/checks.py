"""``stalwart check`` and ``stalwart watch``: run the invariants and threshold rules, and alert."""

from __future__ import annotations

import argparse
import signal
import threading
import time

import redis

from .. import invariants, rules, settings
from ..connection import connect
from ..errors import ConfigurationError
from ..telemetry import logs
from ..telemetry.dispatcher import Dispatcher
from ..telemetry.sinks import SentrySink, sinks_from_settings
from .modules import import_job_modules
from .render import visible


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
    print(visible(f"invariant {item.name}: {state}"), flush=True)  # the error may quote data from Redis
    return violated


def _run_rule(connection: redis.Redis, rule: rules.Rule) -> bool:
    broken = rules.evaluate(connection, rule)
    print(visible(f"rule {rule.name}: {'BROKEN' if broken else 'ok'}"), flush=True)
    return broken


def _setup(args: argparse.Namespace) -> tuple[redis.Redis, Dispatcher, SentrySink | None]:
    import_job_modules(args.imports)
    logs.configure(args.log_level)
    if not invariants.registered() and not rules.registered():
        raise ConfigurationError(
            f"no invariants or rules are declared in {', '.join(args.imports)}; declare them with "
            "@jobs.invariant(...) or jobs.rules.count_above(...)"
        )
    connection = connect()
    sinks = sinks_from_settings(settings.current())
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
