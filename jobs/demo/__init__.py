"""``stalwart demo``: a month of billing against a flaky payment gateway, proved against its ledger.

``billing`` holds the jobs (workers import ``jobs.demo.billing``), ``gateway``
the payment gateway simulator, ``enqueue`` and ``reconcile`` the application's
side, and ``run`` the demo itself (``stalwart demo --help`` tells the story).
"""
