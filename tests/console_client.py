"""A console started by a test as a real process (``stalwart console --port 0``), and an HTTP client for it
that keeps what a test must see: status, headers, body, and no redirect followed."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import redis

from jobs import Classification, DeadLetterEntry, DeadLetterQueue
from tests.workers import REPO, STALWART

OPS = "ops-token-0123456789abcdef"
VIEWER = "viewer-token-0123456789abcdef"
TOKENS = f"ops:operate:{OPS},viewer:read:{VIEWER}"
HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)>"


@contextmanager
def running_console(env: dict[str, str], *options: str) -> Iterator[str]:
    """``stalwart console --port 0 --import tests.sample_jobs`` running; its base URL (no trailing slash)."""
    process = subprocess.Popen(
        [*STALWART, "console", "--port", "0", "--import", "tests.sample_jobs", *options],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the socket listens
        assert line.startswith("serving http://127.0.0.1:"), line
        yield line.split()[1].rstrip("/")
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class Answer:
    """One HTTP answer."""

    status: int
    headers: Mapping[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class Client:
    """Requests to one console, with a bearer token or the session cookie a login set."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.token = token
        self.cookie: str | None = None

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        data = None
        sent = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        elif form is not None:
            data = urlencode(form).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif method == "POST":
            data = b""
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        if self.cookie is not None:
            sent.setdefault("Cookie", self.cookie)
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with _OPENER.open(request, timeout=30) as response:
                return Answer(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as err:
            return Answer(err.code, err.headers, err.read().decode())

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Answer:
        return self.call("POST", path, **kwargs)

    def login(self, token: str) -> Answer:
        answer = self.post("/login", form={"token": token})
        if answer.status == 303:
            self.cookie = answer.headers["Set-Cookie"].split(";")[0]
        return answer

    def csrf(self, path: str = "/dlq") -> str:
        """The CSRF token in the forms of the page at ``path``."""
        found = re.search(r'name="csrf" value="([^"]+)"', self.get(path).body)
        assert found, "no CSRF token on the page"
        return found[1]


def put_entry(
    connection: redis.Redis,
    entry_id: str,
    *,
    job: str = "tests.SaveReport",
    kwargs: dict[str, Any] | None = None,
    error_type: str = "RuntimeError",
    error_message: str = "could not write report",
    classification: Classification = Classification.NON_RETRYABLE,
    seconds_ago: int = 0,
) -> None:
    """A dead-letter entry stored as the worker stores one."""
    at = datetime.fromtimestamp(
        datetime.now(timezone.utc).timestamp() - seconds_ago, timezone.utc
    ).isoformat()
    DeadLetterQueue(connection).put(
        DeadLetterEntry(
            id=entry_id,
            job=job,
            queue="default",
            kwargs=kwargs if kwargs is not None else {"month": "2026-06"},
            classification=classification,
            error_type=error_type,
            error_message=error_message,
            message=f"{job} failed: {error_type}: {error_message}. Free some disk, then replay the job.",
            attempts=1,
            request_id="req-1",
            first_failed_at=at,
            last_failed_at=at,
            history=[
                {
                    "number": 1,
                    "started_at": at,
                    "host": "test",
                    "pid": 1,
                    "outcome": "failed",
                    "error_type": error_type,
                    "error_message": error_message,
                    "traceback": f"Traceback (most recent call last):\n  ...\n{error_type}: {error_message}\n",
                }
            ],
        )
    )
