"""Redis URLs in errors: no piece of a password, whatever it holds; a one-line error for an unknown option."""

from __future__ import annotations

import re
import traceback
from urllib.parse import quote

import pytest
import redis

import jobs
from jobs.connection.client import _client_for, shown_url
from jobs.connection.sentinel import parse
from jobs.connection.urls import credentials_cut_short, redact_url

PASSWORD = "Hunter2x/Kx9vw#Qm4wz?Zt7yq"

# Each a password (or user) a person may paste unencoded, in a plain or a sentinel URL.
CUT_SHORT = [
    "redis://:Hunter2x/Kx9vw@127.0.0.1:6379/0",
    "redis://:Hunter2x#Kx9vw@127.0.0.1:6379/0",
    "redis://:Hunter2x?Kx9vw@127.0.0.1:6379/0",
    "redis://:#Hunter2x@127.0.0.1:6379/0",  # parses as localhost with no password at all
    "redis://:4242?Hunter2x@127.0.0.1:6379/0",  # parses as host "" port 4242
    "redis://app:Hunter2x/Kx9vw#Qm4wz?Zt7yq@127.0.0.1:6379/0",
    "redis://app:Kx9vw@Hunter2x/Qm4wz@127.0.0.1:6379/0",  # parses as host "Hunter2x"
    "rediss://:Hunter2x/Kx9vw#Qm4wz?Zt7yq@redis.internal:6380",
    "redis+sentinel://:Hunter2x/Kx9vw#Qm4wz?Zt7yq@s1:26379,s2:26379/mymaster/0",
    "rediss+sentinel://app:Hunter2x?Kx9vw@s1/mymaster",
]

WELL_FORMED = [
    "redis://127.0.0.1:6379/0",
    f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:6379/0",
    "redis://app:p@ss@127.0.0.1:6379/0",  # an '@' in the password: the host part's last '@' ends it
    "redis://127.0.0.1:6379/0?ssl_ca_certs=/etc/certs@2026/ca.pem",
    "redis+sentinel://s1:26379,[::1]:26380/mymaster?sentinel_password=a@b",
    "unix:///run/redis@6379.sock?db=0",
]


def pieces(text: str, password: str = PASSWORD) -> list[str]:
    """The pieces of ``password`` (split at URL delimiters) that ``text`` shows."""
    return [p for p in re.split(r"[/#?@:]", password) if p and p in text]


@pytest.mark.parametrize("url", CUT_SHORT)
def test_a_url_whose_credentials_hold_url_delimiters_is_recognised(url: str) -> None:
    assert credentials_cut_short(url)


@pytest.mark.parametrize("url", WELL_FORMED)
def test_a_well_formed_url_is_not_taken_for_one_cut_short(url: str) -> None:
    assert not credentials_cut_short(url)


@pytest.mark.parametrize("url", CUT_SHORT)
def test_connect_names_the_fix_and_shows_no_piece_of_the_credentials(url: str) -> None:
    with pytest.raises(jobs.ConfigurationError) as raised:
        jobs.connect(url)

    message = str(raised.value)
    assert message.endswith("percent-encode them in the URL: '/' as %2F, '#' as %23, '?' as %3F, '@' as %40")
    assert "[redacted]@" in message
    secret = url.split("://", 1)[1].rsplit("@", 1)[0].split(":", 1)[-1]
    assert pieces("".join(traceback.format_exception(raised.value)), secret) == []
    assert raised.value.__cause__ is None and raised.value.__context__ is None


@pytest.mark.parametrize("kind", ["plain", "sentinel"])
def test_the_percent_encoded_password_the_message_asks_for_reaches_redis_whole(kind: str) -> None:
    encoded = quote(PASSWORD, safe="")
    if kind == "plain":
        kwargs = redis.Redis.from_url(
            f"redis://:{encoded}@127.0.0.1:6379/0"
        ).connection_pool.connection_kwargs
    else:
        kwargs = parse(f"redis+sentinel://:{encoded}@s1/mymaster").connection_kwargs
    assert kwargs["password"] == PASSWORD


def test_a_password_option_holding_a_hash_is_refused_without_showing_it() -> None:
    url = "redis+sentinel://s1/mymaster?sentinel_password=Hunter2x#Kx9vw&socket_timeout=5"
    with pytest.raises(jobs.ConfigurationError) as raised:
        jobs.connect(url)

    assert str(raised.value) == (
        "the Redis URL 'redis+sentinel://s1/mymaster?sentinel_password=[redacted]&socket_timeout=5' cannot be "
        "read: its sentinel_password option holds '#', which ends a URL; percent-encode them in the URL: "
        "'/' as %2F, '#' as %23, '?' as %3F, '@' as %40"
    )
    assert redact_url(url) == "redis+sentinel://s1/mymaster?sentinel_password=[redacted]&socket_timeout=5"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (
            "redis://127.0.0.1:1/0?socket_timout=5",
            "has an option redis-py does not take, 'socket_timout' (did you mean 'socket_timeout'?)",
        ),
        (
            "redis+sentinel://127.0.0.1:1/mymaster?socket_timout=5",
            "has an option redis-py does not take, 'socket_timout' (did you mean 'socket_timeout'?)",
        ),
        (
            "redis://127.0.0.1:1/0?ssl_ca_certs=/etc/ca.pem",
            "has an option redis-py does not take, 'ssl_ca_certs' here (its ssl_* options need a rediss:// URL)",
        ),
    ],
)
def test_an_option_redis_py_does_not_take_is_one_line_naming_it(url: str, said: str) -> None:
    with pytest.raises(jobs.ConfigurationError) as raised:
        jobs.connect(url)

    assert str(raised.value) == f"the Redis URL {url!r} {said}; correct or remove it"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        (f"redis://:{quote(PASSWORD, safe='')}@h:1/2", "redis://:[redacted]@h:1/2"),
        (f"redis://app:{quote(PASSWORD, safe='')}@h:1/0", "redis://app:[redacted]@h:1/0"),
        ("rediss://app@h:6380/0", "rediss://app@h:6380/0"),
        ("unix:///run/redis.sock?db=3", "unix:///run/redis.sock?db=3"),
        (
            f"redis+sentinel://:{quote(PASSWORD, safe='')}@s1,s2:26380/billing/1",
            "redis+sentinel://s1:26379,s2:26380/billing/1",
        ),
    ],
)
def test_a_workers_start_line_shows_where_its_client_connects_without_the_password(
    url: str, shown: str
) -> None:
    assert shown_url(_client_for(url)) == shown
