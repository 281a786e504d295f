"""RQ behind one boundary: its job format, enqueueing, and reading a job's state.

Only this package and the worker runtime (``jobs.runtime``) import ``rq``; an
RQ upgrade is read against these two.
"""
