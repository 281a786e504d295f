"""Importing the application's modules that define jobs, invariants and rules (``--import``).

Two mistakes look alike and are not: a module that cannot be found (its name,
or the current directory, or PYTHONPATH, is wrong), and a module that was found
but failed to import (an import or a syntax error inside it). The second is
reported with the file and line where it happened, not as a wrong name.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigurationError

# How much of a line with a syntax error is quoted.
QUOTED_CHARS = 80


def import_job_modules(modules: Iterable[str]) -> None:
    """Import the modules that define job classes, so their jobs are registered.

    The current directory is importable, as it is for ``python -m``. Raises
    ConfigurationError naming the module and what to check: its name and the
    path when it cannot be found, the file and line when it failed inside.
    """
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if not _names(err.name, module):
                raise ConfigurationError(_inside(module, err)) from err
            raise ConfigurationError(
                f"cannot import {module!r} ({type(err).__name__}: {err}); check the module name "
                "and that its folder is the current directory or on PYTHONPATH"
            ) from err
        except (ImportError, SyntaxError) as err:
            raise ConfigurationError(_inside(module, err)) from err


def _names(missing: str | None, module: str) -> bool:
    """Whether the module that was not found is ``module`` itself or one of its packages."""
    return missing is not None and (module == missing or module.startswith(missing + "."))


def _inside(module: str, err: ImportError | SyntaxError) -> str:
    """What failed inside ``module``, and where: the file and line, and what to do."""
    if isinstance(err, SyntaxError):
        quoted = (err.text or "").strip()
        shown = f" ({quoted[:QUOTED_CHARS]}{'…' if len(quoted) > QUOTED_CHARS else ''})" if quoted else ""
        where = _place(err.filename, err.lineno)
        return f"cannot import {module!r}: {type(err).__name__} at {where}: {err.msg}{shown}; fix it there"
    frames = _frames(err)
    where = _place(frames[-1].filename, frames[-1].lineno) if frames else "an unknown place"
    through = (
        f" (imported from {_place(frames[0].filename, frames[0].lineno)})"
        if len(frames) > 1 and frames[0].filename != frames[-1].filename
        else ""
    )
    elsewhere = isinstance(err, ModuleNotFoundError) and _top(err.name) not in (None, _top(module))
    advice = "install what provides it, or fix the import there" if elsewhere else "fix the import there"
    return f"cannot import {module!r}: {type(err).__name__} at {where}{through}: {err}; {advice}"


def _top(name: str | None) -> str | None:
    return name.partition(".")[0] if name else None


def _frames(err: BaseException) -> list[traceback.FrameSummary]:
    """The frames of the application's code (and what it imports) that the import went through."""
    machinery = {Path(importlib.__file__).resolve(), Path(__file__).resolve()}
    return [
        frame
        for frame in traceback.extract_tb(err.__traceback__)
        if not frame.filename.startswith("<") and Path(frame.filename).resolve() not in machinery
    ]


def _place(filename: str | None, line: int | None) -> str:
    """``path/to/file.py, line 3``, the path relative to the current directory when it is inside it."""
    if filename is None:
        return "an unknown place"
    path = Path(filename)
    try:
        shown = str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        shown = os.fspath(path)
    return f"{shown}, line {line}" if line is not None else shown
