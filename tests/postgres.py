"""A real PostgreSQL server for the tests: ``initdb`` in a scratch directory, ``pg_ctl`` on a free port.

The binaries are found on PATH, else in Debian's ``/usr/lib/postgresql/*/bin`` (``.ci/run`` installs
Debian's ``postgresql`` package where ``initdb`` is missing). PostgreSQL refuses to run as root: run as
root (a CI container), the server's files belong to, and its commands run as, an unprivileged user
(``postgres`` when the package created it, else ``nobody``), through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class NoPostgres(RuntimeError):
    """No PostgreSQL binaries were found."""


def binaries() -> Path:
    """The directory of ``initdb``, ``pg_ctl`` and ``postgres``."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise NoPostgres(
        "no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin; install Debian's "
        "postgresql package (.ci/run does: apt-get install -y postgresql)"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _runner() -> tuple[list[str], int | None, int | None]:
    """The prefix that runs a command as an unprivileged user when we are root, and that user's ids."""
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], user.pw_uid, user.pw_gid
    raise NoPostgres("running as root, with neither a postgres nor a nobody user to run PostgreSQL as")


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL server: ``start`` it, use ``url``, ``stop`` it (its files are removed)."""

    root: Path
    port: int = 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> str:
        bin_dir = binaries()
        prefix, uid, gid = _runner()
        data = self.root / "data"
        if uid is not None and gid is not None:
            os.chmod(self.root, 0o755)
            os.chown(self.root, uid, gid)
        self._run(prefix, [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"])
        self.port = _free_port()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off -c max_connections=50"
        )
        self._run(
            prefix,
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(self.root / "log"),
                "-w",
                "start",
            ],
        )
        return self.url

    def stop(self) -> None:
        prefix, _, _ = _runner()
        data = self.root / "data"
        if data.exists():
            self._run(prefix, [str(binaries() / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, prefix: list[str], command: list[str]) -> None:
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            log = self.root / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr}{tail}")


def scratch() -> Path:
    """A directory an unprivileged user can own (not under pytest's root-only temporary directories)."""
    return Path(tempfile.mkdtemp(prefix="stalwart-pg-"))
