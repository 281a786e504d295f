"""``stalwart console``: the dead-letter queue, the queues and the rhythm in a browser, and a JSON API.

Installed with ``pip install 'stalwart[console]'`` (Starlette, Jinja2, uvicorn, itsdangerous); the
library never imports it. It reads and acts through the dead-letter queue's public API and ``jobs.stats``,
never the worker. ``app`` builds the ASGI application; ``web`` is the security layer around it (prefix,
cross-site refusal, headers); ``auth`` the tokens and sessions; ``pages``, ``api`` and ``fleet`` the
handlers; ``actions`` what they do to entries; ``views`` the pure rules of what is shown and read.
"""

from __future__ import annotations

from .app import create_app
from .auth import Authenticator, Identity
from .context import ConsoleContext
from .server import DEFAULT_PORT, bind, check_bind, serve, url_of

__all__ = [
    "DEFAULT_PORT",
    "Authenticator",
    "ConsoleContext",
    "Identity",
    "bind",
    "check_bind",
    "create_app",
    "serve",
    "url_of",
]
