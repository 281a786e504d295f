"""The audit trail of a dead-letter entry: who did what to it, when, with what result."""

from __future__ import annotations

import getpass
import os
import socket
from datetime import datetime, timezone
from typing import Any

from .. import settings


def operator() -> str:
    """Who is acting, for the audit trail: ``STALWART_OPERATOR``, else user@host."""
    explicit = settings.current().operator
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid-{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def audit_record(action: str, result: str, by: str | None = None, **details: Any) -> dict[str, Any]:
    """One line of an entry's audit trail: when, by whom, what, with what result."""
    return {
        "at": datetime.now(timezone.utc).isoformat(),
        "by": by or operator(),
        "action": action,
        "result": result,
        **details,
    }
