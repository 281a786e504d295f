"""The worker runtime on RQ: the ``Worker``, RQ's worker classes doing RQ's part, the steps around one
attempt, the reaper of abandoned jobs, the scheduler, circuits, and the sweep of RQ's failed registries."""
