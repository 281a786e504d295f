"""How long the console's pages take with 100,000 dead-letter entries in Redis.

    python -m tests.benchmarks.console [--entries 100000] [--requests 20]

The Redis holds ``--entries`` entries (made as the dead-letter benchmark makes them: 10 jobs, 10 error
types). A real console (uvicorn on 127.0.0.1, in a thread) serves them; each page is fetched
``--requests`` times over HTTP with a bearer token and the median and worst times are reported: they
include the loopback round trip, so they are an upper bound of the server's time. Target: the list
and an entry page under 300 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import urllib.request

import redis
import uvicorn

from jobs import DeadLetterQueue, EmbeddedRedis
from jobs.console import Authenticator, ConsoleContext, bind, create_app, url_of
from jobs.settings import ConsoleToken
from tests.benchmarks.dead_letter import JOBS, fill, quiesce

TOKEN = "bench-token-0123456789abcdef"
TARGET_S = 0.3


def timed(url: str, requests: int) -> tuple[float, float]:
    """Median and worst seconds of ``requests`` GETs of ``url`` (after one untimed warm-up)."""
    times = []
    for n in range(requests + 1):
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            assert response.status == 200, (url, response.status)
        if n:
            times.append(time.perf_counter() - started)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    server = EmbeddedRedis(tempfile.mkdtemp(prefix="stalwart-bench-console-"))
    connection = redis.Redis.from_url(server.start())
    sock = bind("127.0.0.1", 0)
    ctx = ConsoleContext(connection, Authenticator((ConsoleToken("bench", "operate", TOKEN),)), bulk_rate=50)
    web = uvicorn.Server(uvicorn.Config(create_app(ctx), log_level="warning"))
    thread = threading.Thread(target=web.run, kwargs={"sockets": [sock]}, daemon=True)
    try:
        dlq = DeadLetterQueue(connection)
        fill(dlq, args.entries)
        quiesce(connection)
        thread.start()
        base = url_of(sock).rstrip("/")
        while not web.started:
            time.sleep(0.05)
        some_id = dlq.ids(limit=1, offset=args.entries // 2)[0]
        pages = {
            "list, first page": "/dlq",
            "list, page 1000": "/dlq?page=1000",
            "list by job and error type": f"/dlq?job={JOBS[3]}&error_type=GatewayRefused&status=dead",
            "entry page": f"/dlq/entry/{some_id}",
            "root causes": "/dlq/groups",
            "API list, 50 entries": "/api/dlq?limit=50",
            "API entry": f"/api/dlq/{some_id}",
            "queues": "/queues",
            "/metrics": "/metrics",
        }
        print(
            f"console with {len(dlq):,} dead-letter entries, {args.requests} requests each (median / worst):"
        )
        failed = []
        for name, path in pages.items():
            median, worst = timed(base + path, args.requests)
            print(f"  {name:<28} {median * 1000:7.1f} ms / {worst * 1000:7.1f} ms")
            if name in ("list, first page", "entry page") and median > TARGET_S:
                failed.append(name)
        print(
            "target: the list and an entry page under 300 ms: " + (f"MISSED by {failed}" if failed else "met")
        )
    finally:
        web.should_exit = True
        thread.join(10)
        server.stop()


if __name__ == "__main__":
    main()
