"""Parsing ``redis+sentinel://`` URLs: what each part becomes, and one line for each malformed form."""

from __future__ import annotations

import pytest

from jobs import ConfigurationError, connect
from jobs.connection.sentinel import FORM, SentinelManaged, SentinelManagedSSL, is_sentinel_url, parse


def test_the_hosts_are_the_sentinels_and_the_path_names_the_service_and_database() -> None:
    parsed = parse("redis+sentinel://10.0.0.1:26379,sentinel-2.internal:26380/billing-redis/2")

    assert parsed.sentinels == [("10.0.0.1", 26379), ("sentinel-2.internal", 26380)]
    assert (parsed.service, parsed.db, parsed.tls) == ("billing-redis", 2, False)
    assert parsed.connection_kwargs == {"connection_class": SentinelManaged}
    assert parsed.sentinel_kwargs == {}


def test_a_port_defaults_to_26379_and_the_database_to_0() -> None:
    parsed = parse("redis+sentinel://s1,[::1]/mymaster")

    assert parsed.sentinels == [("s1", 26379), ("::1", 26379)]
    assert (parsed.service, parsed.db) == ("mymaster", 0)


def test_the_credentials_are_the_masters_and_sentinel_options_are_the_sentinels() -> None:
    parsed = parse(
        "redis+sentinel://app:p%40ss@s1:1,s2:2/mymaster/0"
        "?socket_timeout=5&health_check_interval=10&sentinel_password=sp&sentinel_username=watcher"
    )

    assert parsed.connection_kwargs == {
        "connection_class": SentinelManaged,
        "username": "app",
        "password": "p@ss",
        "socket_timeout": 5.0,
        "health_check_interval": 10,
    }
    assert parsed.sentinel_kwargs == {"password": "sp", "username": "watcher"}


def test_a_password_alone_is_written_after_a_colon() -> None:
    assert parse("redis+sentinel://:s3cret@s1/mymaster").connection_kwargs["password"] == "s3cret"


def test_rediss_sentinel_uses_tls_to_the_master_and_to_the_sentinels() -> None:
    parsed = parse("rediss+sentinel://s1/mymaster?ssl_cert_reqs=required&ssl_ca_certs=/etc/ssl/redis-ca.pem")

    assert parsed.tls
    assert parsed.connection_kwargs == {
        "connection_class": SentinelManagedSSL,
        "ssl_cert_reqs": "required",
        "ssl_ca_certs": "/etc/ssl/redis-ca.pem",
    }
    assert parsed.sentinel_kwargs == {
        "ssl": True,
        "ssl_cert_reqs": "required",
        "ssl_ca_certs": "/etc/ssl/redis-ca.pem",
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis+sentinel://s1/mymaster", True),
        ("REDISS+SENTINEL://s1/mymaster", True),
        ("redis://localhost:6379/0", False),
        ("sentinel://s1/mymaster", False),
    ],
)
def test_only_the_two_sentinel_schemes_are_sentinel_urls(url: str, expected: bool) -> None:
    assert is_sentinel_url(url) is expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+sentinel:///mymaster", "a sentinel host is missing (the hosts are separated by commas)"),
        (
            "redis+sentinel://s1,,s2/mymaster",
            "a sentinel host is missing (the hosts are separated by commas)",
        ),
        ("redis+sentinel://s1:26379", "it names no service (the name the sentinels monitor)"),
        ("redis+sentinel://s1:26379/", "it names no service (the name the sentinels monitor)"),
        ("redis+sentinel://s1:port/mymaster", "'s1:port' is not a HOST or HOST:PORT"),
        ("redis+sentinel://s1:70000/mymaster", "port 70000 is out of range"),
        ("redis+sentinel://s1/mymaster/zero", "its database 'zero' is not a number"),
        ("redis+sentinel://s1/mymaster/0/extra", "its path '/mymaster/0/extra' has more than SERVICE/DB"),
        (
            "redis+sentinel://s1/mymaster?db=1",
            "it gives db as an option; put the database in the path: /SERVICE/DB",
        ),
        (
            "redis+sentinel://s1/mymaster?sentinel_pasword=x",
            "it has the unknown option 'sentinel_pasword' (sentinel options: sentinel_username, sentinel_password)",
        ),
        (
            "redis+sentinel://s1/mymaster?socket_timeout=soon",
            "Invalid value for 'socket_timeout' in connection URL.",
        ),
        ("redis://s1/mymaster", "its scheme must be redis+sentinel:// or rediss+sentinel://"),
    ],
)
def test_a_malformed_url_is_one_line_naming_the_problem_and_the_expected_form(url: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse(url)

    assert str(raised.value) == f"the Redis URL {url!r} is malformed: {problem}; use {FORM}"


def test_connect_reports_a_malformed_sentinel_url_without_its_passwords(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis+sentinel://:hunter2@s1/mymaster/x?sentinel_password=swordfish")

    with pytest.raises(ConfigurationError) as raised:
        connect()

    message = str(raised.value)
    assert message == (
        "the Redis URL 'redis+sentinel://[redacted]@s1/mymaster/x?sentinel_password=[redacted]' is malformed: "
        f"its database 'x' is not a number; use {FORM}"
    )
