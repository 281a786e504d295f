"""The job model: what a job is and what its ending means, with no Redis, no RQ and no I/O.

options, definition and registry say what a job class declares; payload checks
and decodes its arguments; decisions, execution and outcome run one attempt and
say what it ended as; entry is the record of a job that died; schedule and periodic say
when a periodic job's ticks fall and what a tick enqueues.
"""
