"""``stalwart demo``: a month of billing against a flaky payment gateway, proved against its ledger.

It ships with the package, so ``stalwart demo`` needs no clone. The billing
example's application: ``billing`` (the job; workers import
``jobs.demo.billing``), ``enqueue`` and ``reconcile``; ``gateway``, the
payment gateway simulator, which stalwart's own tests use too. The demo
itself: ``run`` (``stalwart demo --help`` tells the story), ``phases``,
``tables``, ``progress`` and ``workers``.
"""
