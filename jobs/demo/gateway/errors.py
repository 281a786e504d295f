"""What the gateway raises. Each error says, by its base class, whether the charge can have happened.

GatewayError
├── GatewayUnavailable (ConnectionRefusedError)  503: down; the request never ran
├── GatewayRefused (ConnectionRefusedError)      connection refused; the request never ran
├── RateLimited (ConnectionError)                429; the request never ran
├── GatewayTimeout (TimeoutError)                no answer: the charge may have happened
├── GarbledResponse (ValueError)                 an unreadable answer: the charge may have happened
└── InvalidRequest (ValueError)                  400: malformed; nothing happened, retrying cannot help
"""

from __future__ import annotations


class GatewayError(Exception):
    """Anything the gateway raises."""


class GatewayUnavailable(GatewayError, ConnectionRefusedError):
    """503: the gateway is down; the request never ran."""


class GatewayRefused(GatewayError, ConnectionRefusedError):
    """The connection was refused; the request never ran."""


class RateLimited(GatewayError, ConnectionError):
    """429: too many requests; the request never ran."""


class GatewayTimeout(GatewayError, TimeoutError):
    """No answer in time: the charge may or may not have happened."""


class GarbledResponse(GatewayError, ValueError):
    """An unreadable answer: the charge may or may not have happened."""


class InvalidRequest(GatewayError, ValueError):
    """400: the gateway rejected the request as malformed; nothing happened."""
