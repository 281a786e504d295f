"""The package as users get it: a wheel installed in a fresh venv, away from this checkout.

The rest of the suite runs against an editable install, where every file of the checkout is importable
whether or not the wheel carries it. These tests build the wheel from a clean copy of the sources, so a
module, a subpackage or a data file left out of the packaging fails here, not on a user's machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("jobs", "resilience")
# What a clean copy of the sources leaves out: build output, caches, environments and the repository.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", ".stalwart", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)


def run(*command: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with neither this checkout nor the test Redis in its environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "REDIS_URL", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built (with build isolation, as a user's pip does) from a clean copy of the sources."""
    work = tmp_path_factory.mktemp("wheel")
    sources = work / "sources"
    shutil.copytree(REPO, sources, ignore=NOT_SOURCES)
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", work / "dist", sources, cwd=work
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (path,) = (work / "dist").glob("stalwart-*.whl")
    return path


def test_the_wheel_holds_every_module_and_py_typed_of_jobs_and_resilience_and_nothing_else(
    wheel: Path,
) -> None:
    sources = {
        path.relative_to(REPO).as_posix()
        for package in PACKAGES
        for path in (REPO / package).rglob("*")
        if path.is_file()
        and (path.suffix == ".py" or path.name == "py.typed")
        and "__pycache__" not in path.parts
    }
    names = zipfile.ZipFile(wheel).namelist()
    packaged = {name for name in names if not name.split("/")[0].endswith(".dist-info")}

    assert packaged == sources
    assert {"jobs/py.typed", "resilience/py.typed", "jobs/demo/gateway/__main__.py"} <= packaged


def test_stalwart_demo_runs_from_the_wheel_installed_in_a_fresh_venv_outside_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    # Given a fresh venv (no system site-packages: a dependency missing from pyproject must fail here)
    # with the wheel and its embedded extra installed
    venv, elsewhere = tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    created = run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    # The suite's own pip installs into the venv: quicker than bootstrapping a pip in it, the same result.
    installed = run(
        sys.executable, "-m", "pip", "--python", python, "install", "-q", f"{wheel}[embedded]", cwd=tmp_path
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    where = run(python, "-c", "import jobs; print(jobs.__file__)", cwd=elsewhere)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr

    # When the demo runs from a directory that is not the checkout
    demo = run(venv / "bin" / "stalwart", "demo", "--charges", "20", "--workers", "1", cwd=elsewhere)

    # Then it proves its result, and leaves nothing behind where it ran
    assert demo.returncode == 0, demo.stdout + demo.stderr
    lines = [line.strip() for line in demo.stdout.splitlines()]
    assert "proved" in lines, demo.stdout
    assert "jobs lost (not succeeded, not negative): 0" in lines
    assert list(elsewhere.iterdir()) == []
