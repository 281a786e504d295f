"""``stalwart demo``: a month of billing against a flaky payment gateway, proved against its ledger.

It ships with the package, so ``stalwart demo`` needs no clone. The billing
example's application: ``billing`` (the job; workers import
``jobs.demo.billing``), ``enqueue`` and ``reconcile``; ``gateway``, the
payment gateway simulator, which stalwart's own tests use too. The demo
itself: ``run`` (``stalwart demo --help`` tells the story), ``phases``,
``tables``, ``progress`` and ``workers``.
"""

from __future__ import annotations

# What `stalwart demo --help` says (the parser reads it from here without importing the demo).
STORY = """\
A month of billing against a flaky payment gateway, proved against its ledger,
on an embedded Redis with no other service:

1. The payment gateway simulator refuses some calls, times out before or after
   charging, garbles some answers and declines some cards; two customers have
   a fee of 0 in their billing data; and a forged payload naming os.system is
   slipped into the queue.
2. The monthly charges are enqueued and worker processes run them, with a live
   progress bar. Near the end the gateway goes down.
3. A table shows how the jobs ended: succeeded, negative (declined cards, by
   reason), retried, dead-lettered (by classification); then the dead-letter
   queue.
4. The gateway comes back, the billing data is fixed: the charges are replayed
   from the dead-letter queue (the two bad amounts with corrected arguments)
   and the forged payload is discarded with a reason.
5. The final table, and the proof against the gateway's ledger: no job lost,
   no customer charged twice, every charge known to the application.

It takes well under a minute and leaves nothing running. The exit code is 0
only if the proof holds.
"""
