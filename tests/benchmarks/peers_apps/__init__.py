"""The peers benchmark's jobs for RQ, Dramatiq, Celery and huey, and their enqueueing.

These modules run in the peers' own virtualenv (``.venv-peers``, made by
``tests.benchmarks.peers``), never in the project's: mypy does not check them
(their frameworks are not installed there). Each framework's trivial job does
what stalwart's ``tests.benchmarks.trivial.Noop`` does (leave the marks, return
its argument), and its I/O-bound job what ``Sleeps`` does. Redis is ``REDIS_URL``.
"""
