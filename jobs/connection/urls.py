"""Redis URLs in messages: never with their passwords."""

from __future__ import annotations

import re


def redact_url(url: str) -> str:
    """The URL without its passwords (in the credentials, and ``password=`` options), for messages."""
    url = re.sub(r"([?&][a-z_]*password=)[^&#]*", r"\1[redacted]", url)
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user + ':' if user else ''}[redacted]@{host}"
