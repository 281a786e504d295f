"""The package as users get it: the wheel built from a clean copy of the sources, fresh venvs to install it in,
and commands run in them with a new user's environment, away from this checkout and the test Redis.

The rest of the suite runs against an editable install, where every file of the checkout is importable
whether or not the wheel carries it; what is built here is what ``pip install`` gives a user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

# What a clean copy of the sources leaves out: build output, caches, environments and the repository.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", ".stalwart", "build", "dist", "site", "*.egg-info", "__pycache__", ".*_cache"
)
# Variables that would point a command at this checkout, its venv, the test Redis or the test run's own
# settings; and every prefix of the variables stalwart reads (jobs.settings), so none is inherited.
NOT_INHERITED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "REDIS_URL")
NOT_INHERITED_PREFIXES = ("STALWART_", "SENTRY_", "STATSD_", "PYTEST_")


def user_environment(venv: Path | None = None) -> dict[str, str]:
    """This process's environment as a new user's shell has it: none of stalwart's settings, nothing of the
    checkout or of the test run; with ``venv``, that venv activated (its ``bin`` first on PATH, and this
    test run's own interpreter's ``bin`` not on it at all)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in NOT_INHERITED and not name.startswith(NOT_INHERITED_PREFIXES)
    }
    if venv is not None:
        ours = str(Path(sys.prefix) / "bin")
        path = [entry for entry in env.get("PATH", os.defpath).split(os.pathsep) if entry and entry != ours]
        env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
        env["VIRTUAL_ENV"] = str(venv)
    return env


def run(
    *command: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``cwd`` with ``env`` (a new user's environment unless given); output captured."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=user_environment() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def build_wheel(work: Path) -> Path:
    """The wheel built in ``work`` (with build isolation, as a user's pip does) from a clean copy of the
    sources, so a module or data file left out of the packaging is missing from it."""
    sources = work / "sources"
    shutil.copytree(REPO, sources, ignore=NOT_SOURCES)
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist", sources, cwd=work
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = (work / "dist").glob("stalwart-*.whl")
    return path


def new_venv(path: Path, *requirements: str, with_pip: bool = False) -> Path:
    """A fresh venv at ``path`` with ``requirements`` installed; no system site-packages, so a dependency
    missing from the package's metadata fails. ``with_pip``: the venv has a pip of its own (for commands
    that run ``pip``); otherwise this run's pip installs into it, which is quicker and the same result."""
    created = run(
        sys.executable, "-m", "venv", *([] if with_pip else ["--without-pip"]), path, cwd=path.parent
    )
    assert created.returncode == 0, created.stdout + created.stderr
    python = path / "bin" / "python"
    pip = [python, "-m", "pip"] if with_pip else [sys.executable, "-m", "pip", "--python", python]
    installed = run(*pip, "install", "-q", *requirements, cwd=path.parent)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return path
