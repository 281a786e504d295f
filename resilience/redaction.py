"""Redaction: secrets are shown as ``[redacted]``, found by their names and then by their values.

The original values stay where they are needed (a job's payload, for replay);
everything meant for people or other systems (logs, alerts, listings, stored
messages and tracebacks) is redacted first, in two ways:

- **By name** (``is_secret_name``, ``redact``): a field whose name holds a secret
  word is shown as ``[redacted]``, at any depth (dicts in lists in lists).
- **By value** (``Scrubber``): the values of those fields are replaced wherever
  they occur in a text, so ``ValueError(f"card {card_number} declined")`` is
  recorded as ``card [redacted] declined``.

Names are compared as words: a name is split at ``_``, ``-``, ``.``, spaces and
camelCase humps (letters apart from digits) and lowercased, so ``cardNumber``,
``Card Number``, ``card-number`` and ``CARD_NUMBER`` are one name. A secret word of
five letters or more matches anywhere in the name with its separators removed
(``userpassword``, ``x_api_key``, ``PHPSESSID``); a shorter one (``auth``, ``pwd``,
``cvv``) only as whole words, so ``auth`` redacts ``auth_header`` and ``basicAuth``
but not ``author_id``. ``STALWART_SECRET_WORDS`` (comma-separated) adds words.

Values are scrubbed only when they cannot be mistaken for ordinary text: strings
of at least ``MIN_SCRUBBED_CHARS`` characters once stripped of surrounding
whitespace, and numbers (not booleans) whose decimal text is that long. A shorter
secret (a 3-digit CVV, a 4-digit PIN) is still redacted by name but is not looked
for in texts: scrubbing every ``123`` would garble line numbers and ids in
tracebacks while hiding little. Only exact occurrences are found (also as Python's
``repr``, JSON and URL percent-encoding write them); a value an error message
transforms (masked, upper-cased, split) is not.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

REDACTED = "[redacted]"

# The shortest secret value looked for in texts (see the module docstring).
MIN_SCRUBBED_CHARS = 6

DEFAULT_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "api_key",
    "private_key",
    "credential",
    "authorization",
    "auth",
    # Card data: stalwart runs payments.
    "card_number",
    "card_no",
    "cc_number",
    "credit_card",
    "cvv",
    "cvc",
    "pin",
    # Sessions and cookies, as Sentry's default denylist has them (sentry_sdk.scrubber): session ids
    # (sessionid, PHPSESSID, connect.sid), cookies (set_cookie) and CSRF/XSRF tokens are credentials.
    "session",
    "sessid",
    "connect.sid",
    "cookie",
    "csrf",
    "xsrf",
)

# Words this long match inside longer words too (``dbpassword``); shorter ones only as whole words.
_ANYWHERE_FROM = 5

_HUMP = re.compile(
    r"(?<=[a-z0-9])(?=[A-Z])"  # cardNumber
    r"|(?<=[A-Z])(?=[A-Z][a-z])"  # XSRFToken
    r"|(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])"  # cvv2
)
_WORD = re.compile(r"[^\W_]+")


def name_words(name: str) -> list[str]:
    """``name`` as lowercase words: ``cardNumber``, ``Card Number`` and ``card-number`` give the same."""
    return _WORD.findall(_HUMP.sub(" ", name).lower())


class _SecretNames:
    """Tells secret names from others, for a list of secret words (see the module docstring)."""

    def __init__(self, words: Iterable[str]) -> None:
        anywhere: list[str] = []
        whole: list[str] = []
        for word in words:
            parts = name_words(word)
            if not parts:
                continue
            if len("".join(parts)) >= _ANYWHERE_FROM:
                anywhere.append(re.escape("".join(parts)))
            else:
                whole.append(re.escape("_".join(parts)))
        self._anywhere = re.compile("|".join(anywhere)) if anywhere else None
        self._whole = re.compile(rf"(?:^|_)(?:{'|'.join(whole)})(?:_|$)") if whole else None

    def __call__(self, name: str) -> bool:
        words = name_words(name)
        if self._anywhere is not None and self._anywhere.search("".join(words)):
            return True
        return self._whole is not None and bool(self._whole.search("_".join(words)))


def _configured_words() -> list[str]:
    extra = os.environ.get("STALWART_SECRET_WORDS", "")
    return [*DEFAULT_SECRET_WORDS, *(w.strip() for w in extra.split(",") if w.strip())]


_SECRET = _SecretNames(_configured_words())


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` is secret (``api_key``, ``userPassword``, ``Card Number``)."""
    return _SECRET(name)


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def secret_values(values: Any) -> list[Any]:
    """Every value held under a secret name in ``values``, at any depth (all of a secret dict or list)."""
    found: list[Any] = []
    if isinstance(values, Mapping):
        for key, value in values.items():
            if is_secret_name(str(key)):
                found.extend(_leaves(value))
            else:
                found.extend(secret_values(value))
    elif isinstance(values, (list, tuple)):
        for item in values:
            found.extend(secret_values(item))
    return found


def _scrubbable(value: Any) -> str | None:
    """The text to look for, for a secret value long enough to scrub safely; None for any other."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        return None
    return text if len(text) >= MIN_SCRUBBED_CHARS else None


def _forms(text: str) -> set[str]:
    """``text`` as it may be written in a message: as is, escaped by repr or JSON, percent-encoded."""
    return {text, repr(text)[1:-1], json.dumps(text)[1:-1], quote(text, safe="")}


class Scrubber:
    """Replaces given secret values wherever they occur in a text: ``Scrubber.of(kwargs).text(message)``.

    Its repr never shows the values.
    """

    __slots__ = ("_pattern", "_secrets")

    def __init__(self, secrets: Iterable[Any] = ()) -> None:
        self._secrets = frozenset(t for t in map(_scrubbable, secrets) if t is not None)
        forms = {form for secret in self._secrets for form in _forms(secret)}
        # Longest first, so a value that contains another is replaced whole.
        ordered = sorted(forms, key=lambda form: (-len(form), form))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Scrubber:
        """A scrubber for the values of the secret-named fields of ``values`` (a job's arguments, say)."""
        return cls(secret_values(values))

    def __add__(self, other: Scrubber) -> Scrubber:
        return Scrubber((*self._secrets, *other._secrets))

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __repr__(self) -> str:
        return f"Scrubber({len(self._secrets)} values)"

    def text(self, text: str) -> str:
        """``text`` with every occurrence of a secret value replaced by ``[redacted]``."""
        return text if self._pattern is None else self._pattern.sub(REDACTED, text)

    def redact(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` redacted by name, and every other string in it scrubbed of these secrets and its own."""
        return _redacted_mapping(values, self + Scrubber.of(values))


def _redacted_mapping(values: Mapping[str, Any], scrubber: Scrubber) -> dict[str, Any]:
    return {
        key: REDACTED if is_secret_name(str(key)) else _redacted(value, scrubber)
        for key, value in values.items()
    }


def _redacted(value: Any, scrubber: Scrubber) -> Any:
    if isinstance(value, Mapping):
        return _redacted_mapping(value, scrubber)
    if isinstance(value, (list, tuple)):
        return [_redacted(item, scrubber) for item in value]
    if isinstance(value, str):
        return scrubber.text(value)
    return value


def redact(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``values`` with secret-named fields replaced by ``[redacted]`` at any depth (lists of lists
    too), and their values scrubbed from the other strings in it."""
    return Scrubber().redact(values)
