"""Who is asking: a bearer token (scripts), a signed session cookie (browsers), or nobody.

Tokens come from ``STALWART_CONSOLE_TOKENS`` (``name:role:token``); each is compared in constant time
with every configured one, so the time a refusal takes says nothing about how close a guess was. A
browser logs in once with a token and gets a session cookie (``HttpOnly``, ``SameSite=Strict``) signed
with the console's secret; it names the token and carries a fingerprint of it, so changing a token
ends the sessions opened with the old one, and a per-session CSRF token that every form sends back.

Without tokens the console serves only this machine (``server.check_bind``): everyone who reaches it
may operate, and is named ``console@<operator>`` in the audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..dead_letter.audit import operator
from ..settings import ConsoleToken

COOKIE = "stalwart_console"
SESSION_HOURS = 12
ANONYMOUS_NAME = "console"


@dataclass(frozen=True)
class Identity:
    """The one asking: the token's name (for the audit trail), whether it may change things, and how it
    was shown (a cookie needs a CSRF token on every state change; a bearer header does not)."""

    name: str
    can_operate: bool
    by_cookie: bool
    csrf: str = ""

    @property
    def audit_name(self) -> str:
        """Who acted, as the audit trail records it: ``console:<token name>``."""
        return self.name if self.name.startswith(f"{ANONYMOUS_NAME}@") else f"{ANONYMOUS_NAME}:{self.name}"


class Authenticator:
    """Checks bearer tokens and session cookies against the configured tokens."""

    def __init__(self, tokens: tuple[ConsoleToken, ...], secret: str | None = None) -> None:
        self.tokens = tokens
        # A new secret per start unless one is set: sessions then end when the console restarts.
        self.secret = secret or secrets.token_hex(32)
        self._sessions = URLSafeTimedSerializer(self.secret, salt="stalwart-console-session")

    @property
    def open(self) -> bool:
        """Whether no token is configured (loopback only: anyone on this machine may operate)."""
        return not self.tokens

    def anonymous(self, by_cookie: bool) -> Identity:
        """Who asks when no token is configured: the local operator, allowed to operate. A browser's forms
        still carry a CSRF token (one per console start); a script's API calls need none."""
        return Identity(f"{ANONYMOUS_NAME}@{operator()}", True, by_cookie, self._mac("open-csrf"))

    def token(self, presented: str) -> ConsoleToken | None:
        """The configured token equal to ``presented``; every one is compared, in constant time."""
        found = None
        given = presented.encode()
        for candidate in self.tokens:
            if hmac.compare_digest(candidate.token.encode(), given):
                found = candidate
        return found

    def bearer(self, header: str) -> Identity | None:
        """The identity of an ``Authorization: Bearer <token>`` header, or None."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        token = self.token(value.strip())
        return Identity(token.name, token.can_operate, by_cookie=False) if token else None

    def session_cookie(self, token: ConsoleToken) -> str:
        """A signed session for ``token``: its name, a fingerprint of it, and a fresh CSRF token."""
        return self._sessions.dumps(
            {"name": token.name, "fp": self._fingerprint(token), "csrf": secrets.token_urlsafe(24)}
        )

    def session(self, cookie: str) -> Identity | None:
        """The identity of a session cookie, or None if it is forged, expired, or its token changed."""
        try:
            data = self._sessions.loads(cookie, max_age=SESSION_HOURS * 3600)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        token = next((t for t in self.tokens if t.name == data.get("name")), None)
        if token is None or not hmac.compare_digest(str(data.get("fp", "")), self._fingerprint(token)):
            return None
        return Identity(token.name, token.can_operate, by_cookie=True, csrf=str(data.get("csrf", "")))

    def _fingerprint(self, token: ConsoleToken) -> str:
        return self._mac(f"token:{token.name}:{token.role}:{token.token}")[:24]

    def _mac(self, text: str) -> str:
        return hmac.new(self.secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def csrf_matches(identity: Identity, presented: str | None) -> bool:
    """Whether a form's CSRF token is this session's (constant time)."""
    return bool(identity.csrf) and hmac.compare_digest(identity.csrf.encode(), (presented or "").encode())
