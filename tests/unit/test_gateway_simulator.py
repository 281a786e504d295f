"""The payment gateway simulator (jobs.demo.gateway) that the demo, the billing example and these tests share."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from jobs.demo.gateway import Answer, Faults, Gateway, GatewayRefused, GatewayTimeout, RateLimited
from jobs.demo.gateway.__main__ import main as gateway_cli


def test_a_customers_script_comes_before_the_odds_and_the_odds_resume_after_it(fake: redis.Redis) -> None:
    gateway = Gateway(fake)
    gateway.configure(Faults(refuse=1.0))
    gateway.script(1, "ok", "rate_limited")

    first = gateway.charge(1, 900, idempotency_key="k1")
    with pytest.raises(RateLimited, match="429 Too Many Requests"):
        gateway.charge(1, 900, idempotency_key="k1")
    with pytest.raises(GatewayRefused, match="gateway refused the connection for customer 1"):
        gateway.charge(1, 900, idempotency_key="k1")

    assert first == Answer(approved=True, authorization_code=gateway.ledger()[0]["code"])
    assert gateway.charges(1) == 1


def test_a_scripted_decline_is_an_answer_that_charges_nothing(fake: redis.Redis) -> None:
    gateway = Gateway(fake)
    gateway.script(5, "decline")

    assert gateway.charge(5, 900) == Answer(approved=False, decline_code="do_not_honor")
    assert gateway.ledger() == []


def test_without_an_idempotency_key_every_call_that_gets_through_charges_again(fake: redis.Redis) -> None:
    gateway = Gateway(fake)
    gateway.script(7, "timeout_after", "ok")
    gateway.script(8, "timeout_after", "ok")

    with pytest.raises(GatewayTimeout):
        gateway.charge(7, 900)
    retried_without_key = gateway.charge(7, 900)
    with pytest.raises(GatewayTimeout):
        gateway.charge(8, 900, idempotency_key="fee:8")
    retried_with_key = gateway.charge(8, 900, idempotency_key="fee:8")

    assert (gateway.charges(7), gateway.charges(8)) == (2, 1)
    codes = [e["code"] for e in gateway.ledger()]
    assert len(set(codes)) == 3  # each charge has its own code; the key's retry got its first charge's
    assert retried_without_key.authorization_code == codes[1]
    assert retried_with_key.authorization_code == codes[2]


def test_an_unknown_step_is_refused_and_nothing_is_scripted(fake: redis.Redis) -> None:
    gateway = Gateway(fake)

    with pytest.raises(ValueError, match=r"unknown gateway steps \['tiemout'\]; use \['ok', 'refuse', "):
        gateway.script(1, "ok", "tiemout")

    assert fake.keys("gateway:script:*") == []


def test_the_same_seed_fails_the_same_calls(fake: redis.Redis) -> None:
    def outcomes(seed: str) -> list[str]:
        gateway = Gateway(fake)
        gateway.reset()
        gateway.configure(Faults(refuse=0.3, timeout_before=0.2, decline=0.2, seed=seed))
        seen = []
        for customer in range(40):
            try:
                answer = gateway.charge(customer, 900, idempotency_key=f"fee:{customer}")
                seen.append("approved" if answer.approved else str(answer.decline_code))
            except (GatewayRefused, GatewayTimeout) as err:
                seen.append(type(err).__name__)
        return seen

    first = outcomes("a")

    assert outcomes("a") == first
    assert outcomes("b") != first
    assert {"approved", "GatewayRefused", "GatewayTimeout"} <= set(first)


def test_reset_forgets_faults_scripts_outage_and_ledger(fake: redis.Redis) -> None:
    gateway = Gateway(fake)
    gateway.charge(2, 900, idempotency_key="fee:2")
    gateway.charge(3, 900)
    gateway.configure(Faults(garble=1.0))
    gateway.script(1, "refuse")
    gateway.down()

    gateway.reset()

    assert (gateway.faults(), gateway.is_down(), fake.keys("gateway:*")) == (Faults(), False, [])


def test_the_command_line_refuses_impossible_odds_and_a_missing_redis_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no embedded Redis runs here

    with pytest.raises(SystemExit) as odds:
        gateway_cli(["faults", "--refuse", "0.7", "--garble", "0.5"])
    odds_error = capsys.readouterr().err.splitlines()[-1]
    with pytest.raises(SystemExit) as no_redis:
        gateway_cli(["up"])
    no_redis_error = capsys.readouterr().err

    assert odds.value.code == 2
    assert odds_error.startswith("python -m jobs.demo.gateway: error: fault shares must be between 0 and 1")
    assert odds_error.endswith("; pass shares such as --refuse 0.05")
    assert no_redis.value.code == 1
    assert no_redis_error == (
        "python -m jobs.demo.gateway: REDIS_URL is not set and no embedded Redis is running in "
        f"{tmp_path.resolve() / '.stalwart'} (the current directory: no .stalwart or project marker above "
        "it); set REDIS_URL=redis://HOST:6379/0, or run `stalwart redis start` (or a worker) in the project\n"
    )
