"""`--import MODULE` (issue 13): a module that fails inside is told apart from a module that is not there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.workers import stalwart


@pytest.fixture
def app(tmp_path: Path, subprocess_env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """A folder of the application's modules, on PYTHONPATH, and the environment that finds them."""
    folder = tmp_path / "app"
    (folder / "shop").mkdir(parents=True)
    (folder / "shop" / "__init__.py").write_text("")
    (folder / "shop" / "billing.py").write_text("import json\nimport gateway_sdk_not_installed\n")
    (folder / "shop" / "orders.py").write_text('"""Orders."""\n\nfrom shop.inventory import Stock\n')
    (folder / "shop" / "mail.py").write_text("from json import not_in_json\n")
    (folder / "shop" / "typo.py").write_text("x = 1\ndef perform(self:\n    pass\n")
    (folder / "shop" / "chain.py").write_text("import shop.billing\n")
    env = {**subprocess_env, "PYTHONPATH": os.pathsep.join([str(folder), subprocess_env["PYTHONPATH"]])}
    return folder, env


def worker_importing(module: str, env: dict[str, str]) -> tuple[int, str]:
    run = stalwart("worker", "--import", module, "--burst", env=env)
    return run.returncode, run.stderr


def test_a_missing_import_inside_the_module_names_the_file_line_and_the_missing_module(
    app: tuple[Path, dict[str, str]],
) -> None:
    folder, env = app

    assert worker_importing("shop.billing", env) == (
        1,
        f"stalwart: cannot import 'shop.billing': ModuleNotFoundError at {folder}/shop/billing.py, line 2: "
        "No module named 'gateway_sdk_not_installed'; install what provides it, or fix the import there\n",
    )


def test_a_missing_module_of_the_application_itself_is_an_import_to_fix_not_a_package_to_install(
    app: tuple[Path, dict[str, str]],
) -> None:
    folder, env = app

    assert worker_importing("shop.orders", env) == (
        1,
        f"stalwart: cannot import 'shop.orders': ModuleNotFoundError at {folder}/shop/orders.py, line 3: "
        "No module named 'shop.inventory'; fix the import there\n",
    )


def test_a_failure_deeper_down_names_where_it_happened_and_where_it_was_imported_from(
    app: tuple[Path, dict[str, str]],
) -> None:
    folder, env = app

    assert worker_importing("shop.chain", env) == (
        1,
        f"stalwart: cannot import 'shop.chain': ModuleNotFoundError at {folder}/shop/billing.py, line 2 "
        f"(imported from {folder}/shop/chain.py, line 1): No module named 'gateway_sdk_not_installed'; "
        "install what provides it, or fix the import there\n",
    )


def test_a_name_that_cannot_be_imported_names_the_file_and_line(app: tuple[Path, dict[str, str]]) -> None:
    folder, env = app

    code, stderr = worker_importing("shop.mail", env)

    assert code == 1
    assert stderr.startswith(
        f"stalwart: cannot import 'shop.mail': ImportError at {folder}/shop/mail.py, line 1: "
        "cannot import name 'not_in_json' from 'json' ("
    )
    assert stderr.endswith("); fix the import there\n")


def test_a_syntax_error_names_the_file_line_and_the_code(app: tuple[Path, dict[str, str]]) -> None:
    folder, env = app

    assert worker_importing("shop.typo", env) == (
        1,
        f"stalwart: cannot import 'shop.typo': SyntaxError at {folder}/shop/typo.py, line 2: "
        "'(' was never closed (def perform(self:); fix it there\n",
    )


@pytest.mark.parametrize("module", ["shop.nothing", "nothing_at_all", "nothing_at_all.billing"])
def test_a_module_that_is_not_there_says_to_check_its_name_and_the_path(
    app: tuple[Path, dict[str, str]], module: str
) -> None:
    _, env = app
    missing = "nothing_at_all" if module.startswith("nothing_at_all") else module

    assert worker_importing(module, env) == (
        1,
        f"stalwart: cannot import {module!r} (ModuleNotFoundError: No module named {missing!r}); "
        "check the module name and that its folder is the current directory or on PYTHONPATH\n",
    )
