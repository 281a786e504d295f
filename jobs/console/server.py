"""Serving the console: the bind check (no remote bind without tokens) and uvicorn on a socket bound first,
so that ``--port 0`` can print the port the system chose before serving."""

from __future__ import annotations

import socket

import redis
import uvicorn

from ..metrics.server import is_loopback
from ..settings import Settings
from .app import create_app
from .auth import Authenticator
from .context import ConsoleContext

DEFAULT_PORT = 9809


def check_bind(host: str, settings: Settings) -> None:
    """Refuse (ValueError, a sentence saying what to do) a bind other machines could reach without tokens."""
    if not is_loopback(host) and not settings.console_tokens:
        raise ValueError(
            f"--host {host} is not a loopback address and STALWART_CONSOLE_TOKENS is not set, so anyone who "
            "reaches it could replay and discard jobs; set tokens (name:role:token, see docs/console.md) "
            "or use --host 127.0.0.1"
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: one the system chooses)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def url_of(sock: socket.socket, root_path: str = "") -> str:
    """The console's address on ``sock``."""
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{root_path}/"


def serve(sock: socket.socket, connection: redis.Redis, settings: Settings, root_path: str = "") -> None:
    """Serve the console on ``sock`` until interrupted."""
    ctx = ConsoleContext(
        connection,
        Authenticator(settings.console_tokens, settings.console_secret),
        settings.console_bulk_rate,
    )
    config = uvicorn.Config(
        create_app(ctx, root_path), log_level="warning", proxy_headers=True, server_header=False
    )
    uvicorn.Server(config).run(sockets=[sock])
