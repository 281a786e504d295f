"""The application's records of its users, kept in Redis to stand in for the application's database.

Keys (all under ``signup:``):

- ``signup:user:<id>``: a hash: ``email``, ``activation_token``, ``state`` (``pending`` until the user
  follows the link, then ``active``), ``created_at``, and where the activation email is:
  ``email_state`` (``owed``, ``sent``, ``bounced``, ``needs_attention``), ``email_requested_at``,
  ``email_job`` (the job last enqueued for it; once sent or bounced, the job that did it),
  ``message_id``, ``sent_at``, ``bounce_code``, ``dead_letter_entry``, ``attention_reason``.
- ``signup:email:<address>`` and ``signup:token:<token>``: the user id of an address, of a token.
- ``signup:owed``: the marker. Every pending user who is owed an activation email is in this sorted
  set, scored by since when; it is written in the same MULTI as the user, so no user ever exists
  without it, and it is removed only when the email went out, bounced, or the user activated.
- ``signup:needs_attention``: users whose email job was dead-lettered: a person's work list.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import cast

import redis
from redis.client import Pipeline

USER = "signup:user:"
BY_EMAIL = "signup:email:"
BY_TOKEN = "signup:token:"
OWED = "signup:owed"
NEEDS_ATTENTION = "signup:needs_attention"
NEXT_ID = "signup:next_id"


class InvalidEmail(ValueError):
    """The address cannot be an email address; the sign-up form says so and creates nothing."""


@dataclass(frozen=True)
class User:
    """One user, as stored."""

    id: int
    email: str
    activation_token: str
    state: str
    created_at: float
    email_state: str
    email_requested_at: float
    email_job: str | None = None
    message_id: str | None = None
    sent_at: float | None = None
    bounce_code: str | None = None
    dead_letter_entry: str | None = None
    attention_reason: str | None = None

    @classmethod
    def from_hash(cls, fields: dict[bytes, bytes]) -> User:
        """Rebuild a user from its Redis hash."""
        raw = {k.decode(): v.decode() for k, v in fields.items()}

        def number(name: str) -> float | None:
            return float(raw[name]) if raw.get(name) else None

        return cls(
            id=int(raw["id"]),
            email=raw["email"],
            activation_token=raw["activation_token"],
            state=raw["state"],
            created_at=float(raw["created_at"]),
            email_state=raw["email_state"],
            email_requested_at=float(raw["email_requested_at"]),
            email_job=raw.get("email_job") or None,
            message_id=raw.get("message_id") or None,
            sent_at=number("sent_at"),
            bounce_code=raw.get("bounce_code") or None,
            dead_letter_entry=raw.get("dead_letter_entry") or None,
            attention_reason=raw.get("attention_reason") or None,
        )


def normalise(email: str) -> str:
    """The address as stored and looked up: trimmed and lower-cased; raises InvalidEmail."""
    address = email.strip().lower()
    local, _, domain = address.partition("@")
    if not local or "." not in domain or " " in address:
        raise InvalidEmail(f"{email!r} is not an email address; expected name@example.com")
    return address


class Accounts:
    """The users, their activation state, and the markers that say who is still owed an email."""

    def __init__(self, connection: redis.Redis) -> None:
        self.connection = connection

    # -- reading ----------------------------------------------------------------------------------

    def get(self, user_id: int) -> User | None:
        """The user, or None if there is none with this id."""
        fields = cast(dict[bytes, bytes], self.connection.hgetall(USER + str(user_id)))
        return User.from_hash(fields) if fields else None

    def by_email(self, email: str) -> User | None:
        """The user who signed up with ``email``, or None."""
        user_id = self.connection.get(BY_EMAIL + normalise(email))
        return self.get(int(user_id)) if user_id is not None else None

    def by_token(self, token: str) -> User | None:
        """The user an activation token belongs to, or None."""
        user_id = self.connection.get(BY_TOKEN + token)
        return self.get(int(user_id)) if user_id is not None else None

    def owed_before(self, before: float) -> list[tuple[int, float]]:
        """Users owed an activation email since before ``before`` (epoch seconds), with since when."""
        rows = cast(
            list[tuple[bytes, float]], self.connection.zrangebyscore(OWED, "-inf", before, withscores=True)
        )
        return [(int(member), float(score)) for member, score in rows]

    def needing_attention(self) -> list[int]:
        """Users whose email job was dead-lettered and who have not got an email since, oldest first."""
        return [int(member) for member in cast(list[bytes], self.connection.zrange(NEEDS_ATTENTION, 0, -1))]

    def all(self) -> list[User]:
        """Every user, by id (for the simulation's status table; an application would page this)."""
        last = int(cast(bytes | None, self.connection.get(NEXT_ID)) or 0)
        return [user for user_id in range(1, last + 1) if (user := self.get(user_id)) is not None]

    # -- writing ----------------------------------------------------------------------------------

    def create(self, email: str, now: float | None = None) -> tuple[User, bool]:
        """Create a pending user with an activation token and the "email owed" marker, in one MULTI.

        Returns the user and True, or the user who already has this address and False.
        """
        address = normalise(email)
        now = time.time() if now is None else now
        email_key = BY_EMAIL + address
        outcome: list[tuple[int, bool]] = []

        def create_unless_taken(pipeline: Pipeline) -> None:
            outcome.clear()
            existing = cast(bytes | None, pipeline.get(email_key))
            if existing is not None:
                outcome.append((int(existing), False))
                return
            user_id = int(self.connection.incr(NEXT_ID))
            token = secrets.token_urlsafe(24)
            pipeline.multi()
            pipeline.hset(
                USER + str(user_id),
                mapping={
                    "id": user_id,
                    "email": address,
                    "activation_token": token,
                    "state": "pending",
                    "created_at": now,
                    "email_state": "owed",
                    "email_requested_at": now,
                },
            )
            pipeline.set(email_key, user_id)
            pipeline.set(BY_TOKEN + token, user_id)
            pipeline.zadd(OWED, {str(user_id): now})
            outcome.append((user_id, True))

        # Under WATCH: two sign-ups racing for one address must not both create an account. If the
        # address changes before EXEC, redis-py runs the function again, and it finds the other's.
        self.connection.transaction(create_unless_taken, email_key)
        user_id, created = outcome[0]
        user = self.get(user_id)
        if user is None:
            raise LookupError(f"the address index names user {user_id}, who does not exist; repair it")
        return user, created

    def record_job(self, user_id: int, job_id: str) -> None:
        """Note the job that is to send the user's activation email."""
        self.connection.hset(USER + str(user_id), "email_job", job_id)

    def request_email(self, user_id: int, now: float | None = None) -> None:
        """Owe the user an activation email again (a resend, or the sweeper); keeps since when it is owed."""
        now = time.time() if now is None else now
        with self.connection.pipeline() as pipeline:
            pipeline.hset(USER + str(user_id), mapping={"email_state": "owed", "email_requested_at": now})
            pipeline.zadd(OWED, {str(user_id): now}, nx=True)
            pipeline.zrem(NEEDS_ATTENTION, str(user_id))
            pipeline.execute()

    def mark_sent(self, user_id: int, message_id: str, job_id: str, now: float | None = None) -> None:
        """The email service accepted the user's activation email (sent by ``job_id``): nothing is owed."""
        now = time.time() if now is None else now
        with self.connection.pipeline() as pipeline:
            pipeline.hset(
                USER + str(user_id),
                mapping={
                    "email_state": "sent",
                    "message_id": message_id,
                    "sent_at": now,
                    "email_job": job_id,
                },
            )
            pipeline.zrem(OWED, str(user_id))
            pipeline.zrem(NEEDS_ATTENTION, str(user_id))
            pipeline.execute()

    def mark_bounced(self, user_id: int, code: str, job_id: str) -> None:
        """The address was rejected for good: nothing more can be sent; the user must give another."""
        with self.connection.pipeline() as pipeline:
            pipeline.hset(
                USER + str(user_id),
                mapping={"email_state": "bounced", "bounce_code": code, "email_job": job_id},
            )
            pipeline.zrem(OWED, str(user_id))
            pipeline.zrem(NEEDS_ATTENTION, str(user_id))
            pipeline.execute()

    def mark_needs_attention(
        self, user_id: int, entry_id: str, reason: str, now: float | None = None
    ) -> bool:
        """List the user for a person: their email job was dead-lettered. False if nothing is owed any more.

        A late dead letter (a duplicate job failing after another one delivered, or after the user
        activated) must not put a user who is fine on the work list, so the state is checked under WATCH.
        """
        now = time.time() if now is None else now
        key = USER + str(user_id)
        listed: list[bool] = []

        def list_if_still_owed(pipeline: Pipeline) -> None:
            listed.clear()
            state, email_state = cast(list[bytes | None], pipeline.hmget(key, ["state", "email_state"]))
            if state != b"pending" or email_state not in (b"owed", b"needs_attention"):
                listed.append(False)
                return
            pipeline.multi()
            pipeline.hset(
                key,
                mapping={
                    "email_state": "needs_attention",
                    "dead_letter_entry": entry_id,
                    "attention_reason": reason,
                },
            )
            pipeline.zadd(NEEDS_ATTENTION, {str(user_id): now})
            listed.append(True)

        self.connection.transaction(list_if_still_owed, key)
        return listed[0]

    def activate(self, token: str, now: float | None = None) -> User | None:
        """The user followed the link: make them active. None if the token is unknown."""
        user = self.by_token(token)
        if user is None:
            return None
        now = time.time() if now is None else now
        with self.connection.pipeline() as pipeline:
            pipeline.hset(USER + str(user.id), mapping={"state": "active", "activated_at": now})
            pipeline.zrem(OWED, str(user.id))
            pipeline.zrem(NEEDS_ATTENTION, str(user.id))
            pipeline.execute()
        return self.get(user.id)

    def drop_markers(self, user_id: int) -> None:
        """Forget a user that no longer exists (an account deleted before its email went out)."""
        with self.connection.pipeline() as pipeline:
            pipeline.zrem(OWED, str(user_id))
            pipeline.zrem(NEEDS_ATTENTION, str(user_id))
            pipeline.execute()
