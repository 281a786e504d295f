"""``GET /metrics`` over HTTP with the standard library's threading server, and nothing else.

Each scrape reads Redis afresh (``snapshot.read``): the exporter keeps no state, so any number of
them may run, and one that restarts loses nothing. A scrape that cannot reach Redis answers 503 with
one line saying why, so Prometheus records the target as down rather than the counters as zero.
"""

from __future__ import annotations

import ipaddress
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis

from .exposition import CONTENT_TYPE, render
from .snapshot import read

log = logging.getLogger("stalwart.metrics")

PATH = "/metrics"
DEFAULT_PORT = 9808


def is_loopback(host: str) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address (only this machine can connect)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool) -> None:
    """Refuse (ValueError, a sentence saying what to do) a bind other machines could reach, unless allowed."""
    if not allow_remote and not is_loopback(host):
        raise ValueError(
            f"--host {host} is not a loopback address, so other machines could read job names and counts; "
            "pass --allow-remote to serve them anyway (behind a firewall), or use --host 127.0.0.1"
        )


class MetricsServer(ThreadingHTTPServer):
    """A threading HTTP server that answers ``GET /metrics`` from ``connection``."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], connection: redis.Redis) -> None:
        self.connection = connection
        super().__init__(address, MetricsHandler)

    @property
    def url(self) -> str:
        """Where to scrape it (with the port the system chose, when asked for port 0)."""
        host, port = self.server_address[:2]
        shown = host.decode() if isinstance(host, bytes) else host
        return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}{PATH}"


class MetricsHandler(BaseHTTPRequestHandler):
    """``/metrics`` and nothing else (404)."""

    server: MetricsServer

    def do_GET(self) -> None:  # the name http.server calls
        if self.path.split("?", 1)[0] != PATH:
            self._answer(404, f"not found: only {PATH} is served\n")
            return
        try:
            body = render(read(self.server.connection))
        except redis.RedisError as err:
            log.warning("could not read the metrics from Redis: %s", err)
            self._answer(503, f"could not read the metrics from Redis: {type(err).__name__}: {err}\n")
            return
        self._answer(200, body, CONTENT_TYPE)

    def _answer(self, code: int, body: str, content_type: str = "text/plain; charset=utf-8") -> None:
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # http.server's signature
        log.debug("%s " + format, self.address_string(), *args)


def make_server(connection: redis.Redis, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> MetricsServer:
    """A server bound to ``host:port`` (port 0: one the system chooses); call ``serve_forever`` on it."""
    return MetricsServer((host, port), connection)
