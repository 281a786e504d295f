"""``stats.write``: counts add up in the minute's bucket whatever mix of whole and fractional amounts."""

from __future__ import annotations

import redis

from jobs import stats


def test_a_whole_duration_after_a_fractional_one_is_added_not_refused(fake: redis.Redis) -> None:
    # Given a bucket whose duration field already holds a fraction (HINCRBY refuses such a field)
    for amount in (30.5, 12.0, 1):
        with fake.pipeline(transaction=False) as pipeline:
            stats.write(pipeline, [("j", "duration_ms", amount), ("j", "runs", 1)], now=600.0)
            pipeline.execute()

    assert fake.hgetall(stats.bucket_key(600.0)) == {b"j|duration_ms": b"43.5", b"j|runs": b"3"}
