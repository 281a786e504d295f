"""Job classes the tests run. Workers import this module by name (--import tests.sample_jobs)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import redis

from jobs import DeadLetterEntry, Job, Negative, connect
from jobs.demo.gateway import Gateway, GatewayRefused, GatewayTimeout, RateLimited
from jobs.model.requests import current_request_id
from resilience import Exponential, Fixed, IdempotencyGuard, RetryPolicy, attempting, transient
from tests.mailer import Mailer


class Add(Job):
    name = "tests.Add"

    def perform(self, a: int, b: int) -> int:
        return a + b


class Noop(Job):
    name = "tests.Noop"

    def perform(self) -> None:
        return None


class ChargeCard(Job):
    name = "tests.ChargeCard"
    queue = "billing"

    def perform(self, customer_id: int, card: str, api_token: str = "") -> str | Negative:
        if card == "declined":
            return Negative("card_declined", customer_id=customer_id, code="05", api_token=api_token)
        return f"auth-{customer_id}"


class SaveReport(Job):
    name = "tests.SaveReport"
    remediation = "Free some disk, then replay the job."

    def describe(self, month: str) -> str:
        return f"saving the {month} report"

    def perform(self, month: str) -> None:
        try:
            raise OSError("disk full")
        except OSError as err:
            raise RuntimeError(f"could not write report {month}") from err


class ReturnsSet(Job):
    name = "tests.ReturnsSet"

    def perform(self) -> Any:
        return {1, 2}


class TouchFile(Job):
    """Appends a line to a file: the tests count side effects with it."""

    name = "tests.TouchFile"

    def perform(self, path: str, text: str = "ran") -> str:
        with Path(path).open("a") as f:
            f.write(text + "\n")
        return text


class KillsItsWorkHorse(Job):
    """Dies the way an out-of-memory kill does: SIGKILL, mid-job."""

    name = "tests.KillsItsWorkHorse"

    def perform(self, path: str) -> None:
        with Path(path).open("a") as f:
            f.write("started\n")
        os.kill(os.getpid(), signal.SIGKILL)

    def on_dead_letter(self, entry: DeadLetterEntry) -> None:
        connect().rpush("horse:dead", f"{entry.id}:{entry.classification}")


class KillsItsWorkHorseEveryTime(KillsItsWorkHorse):
    """Idempotent, so each death is retried: until the kill limit makes it poison."""

    name = "tests.KillsItsWorkHorseEveryTime"
    idempotent = True


class BlocksUntilReleased(Job):
    """Writes its pid to ``path``, then waits (at most a minute) for the file ``release`` to appear."""

    name = "tests.BlocksUntilReleased"

    def perform(self, path: str, release: str) -> str:
        Path(path).write_text(f"{os.getpid()}\n")
        deadline = time.monotonic() + 60
        while not Path(release).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return "released"


class BlocksUntilReleasedIdempotently(BlocksUntilReleased):
    name = "tests.BlocksUntilReleasedIdempotently"
    idempotent = True


class RecordsRequestId(Job):
    """Returns the request id it ran under, and enqueues a child job when asked."""

    name = "tests.RecordsRequestId"

    def perform(self, spawn_child: bool = False) -> dict[str, Any]:
        child = RecordsRequestId.enqueue(spawn_child=False).id if spawn_child else None
        return {"request_id": self.request_id, "current": current_request_id(), "child": child}


# An application that set up Sentry itself, with RQ's integration: it must not double-report.
if os.environ.get("TESTS_APP_SENTRY_DSN"):
    import sentry_sdk
    from sentry_sdk.integrations.rq import RqIntegration

    sentry_sdk.init(dsn=os.environ["TESTS_APP_SENTRY_DSN"], integrations=[RqIntegration()])


# Jobs against the payment gateway simulator (jobs.demo.gateway), for retry behaviour: each test scripts
# the gateway's answers per customer (Gateway.script). Only ChargeFeeIdempotently passes a key.

NO_WAIT = Fixed(0)


class ChargeFee(Job):
    """Not idempotent: it does not pass its key to the gateway."""

    name = "tests.ChargeFee"
    retry_on = (GatewayRefused,)
    ambiguous_on = (GatewayTimeout,)
    max_attempts = 3
    backoff = NO_WAIT
    remediation = "Check the gateway's status page, then replay."

    def describe(self, customer_id: int) -> str:
        return f"charging customer {customer_id} the monthly fee"

    def perform(self, customer_id: int) -> str | Negative:
        answer = Gateway().charge(customer_id, 1000)
        if not answer.approved:
            return Negative("card_declined", customer_id=customer_id, code=answer.decline_code)
        return str(answer.authorization_code)


class ChargeFeeIdempotently(ChargeFee):
    """Passes its idempotency key, so a timeout can be retried safely."""

    name = "tests.ChargeFeeIdempotently"
    idempotent = True

    def perform(self, customer_id: int) -> str | Negative:
        answer = Gateway().charge(customer_id, 1000, idempotency_key=self.idempotency_key)
        return str(answer.authorization_code)


class ChargeAmount(Job):
    """Charges an amount, without passing its key (a timeout is ambiguous); its arguments hold a secret and
    an object, for edited replays."""

    name = "tests.ChargeAmount"
    retry_on = (GatewayRefused,)
    ambiguous_on = (GatewayTimeout,)
    max_attempts = 1

    def perform(
        self,
        customer_id: int,
        amount_cents: int,
        api_token: str = "",
        note: str = "",
        address: dict[str, Any] | None = None,
    ) -> str:
        answer = Gateway().charge(customer_id, amount_cents, reference=note)
        return str(answer.authorization_code)


class ChargeOnBroadErrors(Job):
    """Declares the base class ConnectionError: GatewayRefused and RateLimited are subclasses."""

    name = "tests.ChargeOnBroadErrors"
    retry_on = (ConnectionError,)
    max_attempts = 4
    backoff = NO_WAIT

    def perform(self, customer_id: int) -> str:
        return str(Gateway().charge(customer_id, 1000).authorization_code)


class ChargeWithPerTypeBudgets(Job):
    name = "tests.ChargeWithPerTypeBudgets"
    retry_on = {GatewayRefused: 2, RateLimited: RetryPolicy(attempts=4, backoff=NO_WAIT)}  # noqa: RUF012
    backoff = NO_WAIT

    def perform(self, customer_id: int) -> str:
        return str(Gateway().charge(customer_id, 1000).authorization_code)


class ChargeWrappedInContext(Job):
    name = "tests.ChargeWrappedInContext"
    retry_on = (GatewayRefused,)
    backoff = NO_WAIT

    def perform(self, customer_id: int) -> str:
        with attempting(f"charging customer {customer_id}", customer_id=customer_id):
            return str(Gateway().charge(customer_id, 1000).authorization_code)


class ChargeThenMail(Job):
    """Declares nothing at class level: only the charge's ConnectionError is transient, scoped to its line."""

    name = "tests.ChargeThenMail"
    backoff = NO_WAIT

    def perform(self, customer_id: int) -> str:
        with transient(ConnectionError):
            answer = Gateway().charge(customer_id, 1000)
        Mailer().send(customer_id, "receipt")  # a ConnectionError here must not charge again
        return str(answer.authorization_code)


class ChargeWithRealBackoff(Job):
    name = "tests.ChargeWithRealBackoff"
    retry_on = (GatewayRefused,)
    max_attempts = 3
    backoff = Exponential(base=2, initial=0.6, cap=10)

    def perform(self, customer_id: int) -> str:
        return str(Gateway().charge(customer_id, 1000).authorization_code)


class Recorder(Job):
    """Fails until told otherwise (a Redis flag), records each run; its dead-letter hook records too."""

    name = "tests.Recorder"

    def perform(self, order_id: int, note: str = "") -> str:
        connection = connect()
        connection.rpush(
            "recorder:runs",
            json.dumps(
                {
                    "order_id": order_id,
                    "note": note,
                    "key": self.idempotency_key,
                    "request_id": self.request_id,
                }
            ),
        )
        if connection.get("recorder:fixed") != b"yes":
            raise LookupError(f"order {order_id} not found")
        return f"done-{order_id}"

    def on_dead_letter(self, entry: DeadLetterEntry) -> None:
        connect().rpush("recorder:dead", entry.id)


class HookRaises(Job):
    name = "tests.HookRaises"

    def perform(self) -> None:
        raise ValueError("boom")

    def on_dead_letter(self, entry: DeadLetterEntry) -> None:
        raise RuntimeError("the hook itself is broken")


class ChargeBehindCircuit(Job):
    """Refusals open the shared circuit after 2 failures; while open (4 s), jobs are snoozed."""

    name = "tests.ChargeBehindCircuit"
    retry_on = (GatewayRefused,)
    max_attempts = 2
    backoff = NO_WAIT
    circuit = "test-gateway"
    circuit_failure_threshold = 2
    circuit_reset_after_s = 4  # long enough that the next worker meets it open, even on a loaded machine
    give_up_after_s = 60

    def perform(self, customer_id: int) -> str:
        return str(Gateway().charge(customer_id, 1000).authorization_code)


class ChargeBehindCircuitBriefly(ChargeBehindCircuit):
    """Gives up on an open circuit at once."""

    name = "tests.ChargeBehindCircuitBriefly"
    give_up_after_s = 0.5


class FailsWithASecret(Job):
    name = "tests.FailsWithASecret"

    def perform(self, customer_id: int, api_token: str) -> None:
        raise PermissionError(f"gateway rejected the credentials for customer {customer_id}")


class CountsWidgets(Job):
    name = "tests.CountsWidgets"

    def perform(self, widgets: int) -> int:
        from jobs import stats

        stats.incr("tests.widgets.made", widgets)
        return widgets


class RunsPastItsTimeout(Job):
    """Writes a line, then works longer than its timeout allows."""

    name = "tests.RunsPastItsTimeout"
    timeout_s = 1

    def perform(self, path: str) -> None:
        with Path(path).open("a") as f:
            f.write("started\n")
        time.sleep(10)


class RunsPastItsTimeoutIdempotently(RunsPastItsTimeout):
    name = "tests.RunsPastItsTimeoutIdempotently"
    idempotent = True
    max_attempts = 2
    backoff = NO_WAIT


class WelcomeThenSync(Job):
    """Sends the welcome mail once (guarded), then syncs to a CRM that refuses the first time."""

    name = "tests.WelcomeThenSync"
    retry_on = (ConnectionRefusedError,)
    backoff = NO_WAIT

    def perform(self, user_id: int) -> str:
        connection = connect()
        with IdempotencyGuard(connection).once(f"welcome:{user_id}") as first:
            if first:
                Mailer(connection).send(user_id, "welcome")
        if connection.incr(f"crm:calls:{user_id}") == 1:
            raise ConnectionRefusedError("CRM refused the connection")
        return "synced"


class RecordsEachRun(Job):
    """Counts its runs per ``number`` in Redis and notes which process ran it (pid and parent pid: a
    forking worker's work-horse is its child); with ``fail_first``, its first run is refused (declared
    transient, so retried)."""

    name = "tests.RecordsEachRun"
    retry_on = (ConnectionRefusedError,)
    backoff = NO_WAIT

    def perform(self, number: int, fail_first: bool = False) -> int:
        connection = connect()
        with connection.pipeline() as pipeline:
            pipeline.hincrby("runs:count", str(number), 1)
            pipeline.rpush("runs:by", json.dumps([number, os.getpid(), os.getppid()]))
            runs = pipeline.execute()[0]
        if fail_first and runs == 1:
            raise ConnectionRefusedError(f"the first run of number {number} is refused")
        return number


class WaitsForKey(Job):
    """Notes its start (``<key>:started`` holds its pid, ``<key>:runs`` counts runs), then waits, at most a
    minute, for something to be pushed onto the list ``key``: a job that takes a while, under the test's
    control."""

    name = "tests.WaitsForKey"

    def perform(self, key: str) -> str:
        connection = connect()
        connection.incr(f"{key}:runs")
        connection.set(f"{key}:started", os.getpid())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            # One second at a time: redis-py 8 clients time out a read after 5 s by default.
            if connection.blpop([key], timeout=1):
                return "released"
        return "gave up waiting"


class WaitsForKeyElsewhere(WaitsForKey):
    """The same, on a queue of its own."""

    name = "tests.WaitsForKeyElsewhere"
    queue = "elsewhere"


class StopsRedis(Job):
    """Shuts its Redis down (the append-only file is written first), so that Redis is gone by the time
    the worker records how the job ended."""

    name = "tests.StopsRedis"

    def perform(self) -> str:
        with contextlib.suppress(redis.ConnectionError):  # SHUTDOWN closes the connection: that is success
            connect().shutdown()
        return "stopped"


class CountsFrozenObjects(Job):
    """Returns how many objects the garbage collector of the process running it leaves alone."""

    name = "tests.CountsFrozenObjects"

    def perform(self) -> int:
        import gc

        return gc.get_freeze_count()


class BusyPastItsTimeout(Job):
    """Notes its start in ``<key>:started``, then works in Python (short sleeps) for up to a minute: past
    its one-second timeout, in a thread that a timer can interrupt between two steps."""

    name = "tests.BusyPastItsTimeout"
    timeout_s = 1

    def perform(self, key: str) -> str:
        connect().set(f"{key}:started", os.getpid())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.01)
        return "ran to the end"
