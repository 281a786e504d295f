"""Redis URLs in messages: never with their passwords, nor with any piece of one.

A password holding ``/``, ``#`` or ``?`` (common in base64 passwords) ends the URL's host part early:
the parsers then read a piece of the password as the host, the port or the path, and quote it in their
errors (``Port could not be cast to integer value as 'Hunter2x'``). ``check`` finds such a URL before
any parser sees it and says to percent-encode; nothing of the URL but its redacted form is quoted.
"""

from __future__ import annotations

import difflib
import inspect
import re

import redis
from redis.connection import AbstractConnection, ConnectionPool, SSLConnection

from ..errors import ConfigurationError

PERCENT_ENCODE = "percent-encode them in the URL: '/' as %2F, '#' as %23, '?' as %3F, '@' as %40"

# One host of a URL's host part: a name or [IPv6], with digits for a port if it has a colon.
_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[^\[\]:/?#@\s]+)(?::[0-9]+)?$")
_PASSWORD_OPTION = re.compile(r"([?&][a-z_]*password=)[^&]*")
_UNEXPECTED = re.compile(r"unexpected keyword argument '(?P<name>[^']+)'")


def redact_url(url: str) -> str:
    """The URL without its passwords (in the credentials, and ``password=`` options), for messages."""
    # To the next option: a '#' in the value ends the URL there, but it is still the person's password.
    url = _PASSWORD_OPTION.sub(r"\1[redacted]", url)
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    host_part = _host_part(rest)
    # The credentials end at the host part's last '@'; when a '/', '#' or '?' in them cut the host part
    # short, at the URL's last '@' instead, so that no piece of them is shown.
    end = rest.rfind("@") if credentials_cut_short(url) else host_part.rfind("@")
    if end == -1:
        return url
    user = rest[:end].split(":", 1)[0]
    return f"{scheme}://{user + ':' if user else ''}[redacted]@{rest[end + 1 :]}"


def _host_part(rest: str) -> str:
    """What follows ``scheme://`` up to the path, query or fragment (as URL parsers read it)."""
    return re.split(r"[/?#]", rest, maxsplit=1)[0]


def credentials_cut_short(url: str) -> bool:
    """Whether ``url``'s user or password holds ``/``, ``#`` or ``?``, so that its host part ends inside them.

    The sign: an ``@`` after the host part that is not inside a query option's value (``?a=b@c``), or a
    host part that is no ``HOST[:PORT]`` list while an ``@`` follows it.
    """
    scheme, separator, rest = url.partition("://")
    if not separator or scheme.lower() == "unix":
        return False
    host_part = _host_part(rest)
    tail = rest[len(host_part) :]
    if "@" not in tail:
        return False
    hosts = host_part.rpartition("@")[2]
    if not all(_HOST.match(host) for host in hosts.split(",")):
        return True
    query = tail.find("?")
    for at in (i for i, c in enumerate(tail) if c == "@"):
        if query == -1 or at < query:
            return True  # in the path or a fragment: not where an option's value can be
        option = tail[query + 1 : at].rsplit("&", 1)[-1]
        if "=" not in option:
            return True
    return False


def check(url: str) -> None:
    """Raise ConfigurationError (quoting only the redacted URL) if ``url``'s credentials are cut short, or a
    ``password=`` option's value by a ``#``."""
    if credentials_cut_short(url):
        raise ConfigurationError(
            f"the Redis URL {redact_url(url)!r} cannot be read: its user or password holds '/', '#' or '?', "
            f"which end a URL's host part; {PERCENT_ENCODE}"
        )
    option = re.search(r"[?&]([a-z_]*password)=[^&]*#", url)
    if option:
        raise ConfigurationError(
            f"the Redis URL {redact_url(url)!r} cannot be read: its {option[1]} option holds '#', which ends "
            f"a URL; {PERCENT_ENCODE}"
        )


def unknown_option(url: str, error: TypeError) -> ConfigurationError | None:
    """The error to raise for redis-py's TypeError about an option it does not know, or None for another."""
    found = _UNEXPECTED.search(str(error))
    if found is None:
        return None
    name = found["name"]
    known = _known_options()
    if name in known:
        # Known to redis-py, but not to this kind of connection: ssl_* options on a redis:// URL.
        hint = " here (its ssl_* options need a rediss:// URL)" if name.startswith("ssl") else " here"
    else:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigurationError(
        f"the Redis URL {redact_url(url)!r} has an option redis-py does not take, {name!r}{hint}; "
        "correct or remove it"
    )


def _known_options() -> list[str]:
    """The keyword arguments redis-py's clients, pools and connections take: the URL options it accepts."""
    names: set[str] = set()
    for function in (
        redis.Redis.__init__,
        ConnectionPool.__init__,
        AbstractConnection.__init__,
        SSLConnection.__init__,
    ):
        names.update(inspect.signature(function).parameters)
    return sorted(names - {"self", "kwargs", "args"})
