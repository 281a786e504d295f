"""The embedded Redis's folder is the project's, whichever directory a command runs from."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs import settings
from jobs.connection.home import Home, find


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path/shop`` with a package ``shop_app`` in ``src``; no STALWART_HOME."""
    monkeypatch.delenv("STALWART_HOME", raising=False)
    root = tmp_path / "shop"
    (root / "src" / "shop_app").mkdir(parents=True)
    (root / "scripts").mkdir()
    return root


@pytest.fixture
def imported(project: Path) -> Iterator[None]:
    """``shop_app`` and ``shop_app.mail`` imported from ``shop/src``, and ``loose`` from ``shop/scripts``."""
    modules = {
        "shop_app": project / "src" / "shop_app" / "__init__.py",
        "shop_app.mail": project / "src" / "shop_app" / "mail.py",
        "loose": project / "scripts" / "loose.py",
    }
    for name, file in modules.items():
        module = types.ModuleType(name)
        module.__file__ = str(file)
        sys.modules[name] = module
    yield
    for name in modules:
        del sys.modules[name]


def test_the_project_root_marked_by_pyproject_is_found_from_any_directory_below_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    for here in (project, project / "scripts", project / "src" / "shop_app"):
        monkeypatch.chdir(here)
        assert find() == Home(
            project / ".stalwart",
            "the project root, marked by pyproject.toml, walking up from the current directory",
        )


def test_an_existing_stalwart_folder_is_found_walking_up_as_git_finds_dot_git(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / ".stalwart").mkdir()
    monkeypatch.chdir(project / "src" / "shop_app")
    assert find() == Home(
        project / ".stalwart", "the nearest .stalwart, walking up from the current directory"
    )


def test_the_job_code_decides_not_the_current_directory(
    project: Path, imported: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "setup.cfg").write_text("[metadata]\nname = shop\n")
    monkeypatch.chdir(project.parent)  # above the project: the current directory alone would miss it
    expected = project / ".stalwart"
    assert find(["shop_app.mail"]).directory == expected
    assert find(["shop_app"]).directory == expected
    assert find(["loose"]).why == (
        "the project root, marked by setup.cfg, walking up from the folder of loose"
    )


def test_with_no_marker_anywhere_the_home_is_where_the_job_codes_imports_start(
    project: Path, imported: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.parent)
    assert not [
        p for p in (project, *project.parents) for m in (".git", "pyproject.toml") if (p / m).exists()
    ]
    assert find(["shop_app.mail"]) == Home(
        project / "src" / ".stalwart", "next to shop_app.mail: no .stalwart or project marker above it"
    )
    # Once it exists, code anywhere below finds it by walking up.
    (project / "src" / ".stalwart").mkdir()
    assert find(["shop_app.mail"]).directory == project / "src" / ".stalwart"


def test_stalwart_home_wins_over_everything(
    project: Path, imported: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "pyproject.toml").write_text("")
    monkeypatch.chdir(project)
    with settings.override(home=tmp_path / "elsewhere"):
        assert find(["shop_app"]) == Home(tmp_path / "elsewhere", "STALWART_HOME is set")


def test_installed_code_and_modules_without_a_file_fall_back_to_the_current_directory(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "pyproject.toml").write_text("")
    monkeypatch.chdir(project / "scripts")
    installed = types.ModuleType("vendored")
    installed.__file__ = "/usr/lib/python3/dist-packages/vendored/__init__.py"
    monkeypatch.setitem(sys.modules, "vendored", installed)
    monkeypatch.setitem(sys.modules, "fileless", types.ModuleType("fileless"))
    assert find(["vendored", "fileless"]).directory == project / ".stalwart"


def test_stalwarts_own_job_modules_leave_the_home_to_the_current_directory_even_from_a_checkout(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given stalwart installed from a checkout (as in this suite: jobs/ sits beside stalwart's pyproject)
    # and the billing example run from the user's project
    import jobs.demo.billing

    assert not any(
        part in ("site-packages", "dist-packages") for part in Path(jobs.demo.billing.__file__).parts
    )
    (project / "pyproject.toml").write_text("")
    monkeypatch.chdir(project / "scripts")

    # Then a worker importing the demo's jobs uses the same Redis as `stalwart redis start` there
    assert find(["jobs.demo.billing"]) == Home(
        project / ".stalwart",
        "the project root, marked by pyproject.toml, walking up from the current directory",
    )
