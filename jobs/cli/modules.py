"""Importing the application's modules that define jobs, invariants and rules (``--import``)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable

from ..errors import ConfigurationError


def import_job_modules(modules: Iterable[str]) -> None:
    """Import the modules that define job classes, so their jobs are registered.

    The current directory is importable, as it is for ``python -m``. Raises
    ConfigurationError with the module's name and what to check.
    """
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigurationError(
                f"cannot import {module!r} ({type(err).__name__}: {err}); check the module name "
                "and that its folder is the current directory or on PYTHONPATH"
            ) from err
