"""What a developer sees of production: structured logs, alerts and their sinks, statsd.

Statistics kept in Redis (``jobs.stats``), threshold rules (``jobs.rules``) and
invariants (``jobs.invariants``) are public modules of their own, built on these.
"""
