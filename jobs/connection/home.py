"""Which folder holds a project's embedded Redis: the same one from wherever a command runs.

``STALWART_HOME`` when it is set. Otherwise the project's: found by walking up,
as git finds ``.git``, to the nearest folder that holds a ``.stalwart`` folder or
marks a project root (``pyproject.toml``, ``setup.py``, ``setup.cfg``, ``.git``).
The walk starts at the application's code when a command knows it (the modules
a worker imports, the module that defines the job being enqueued), so that a
worker started from another directory still finds the project's server; else at
the current directory. Code installed in site-packages, and stalwart's own (the
demo's jobs, even from a checkout), say nothing about where the project is.
Where no walk finds anything, the home is next to that code (the folder its
imports start from), else in the current directory.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .. import settings

FOLDER = ".stalwart"
MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
# Code installed as a package says nothing about where its project is.
_INSTALLED = ("site-packages", "dist-packages")
# Nor does stalwart's own (the demo's jobs), even installed from a checkout: that is stalwart's
# project, not the user's.
_STALWART = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Home:
    """The folder of an embedded Redis, and why it is that one (said when a server starts or is adopted)."""

    directory: Path
    why: str

    def __str__(self) -> str:
        return f"{self.directory} ({self.why})"


def find(modules: Iterable[str] = ()) -> Home:
    """The home for code in ``modules`` (imported module names; the first with a file of its own counts),
    or for the current directory when none is given or none has a file outside site-packages."""
    explicit = settings.current().home
    if explicit is not None:
        return Home(explicit.resolve(), "STALWART_HOME is set")
    for module in modules:
        located = _location(module)
        if located is None:
            continue
        folder, import_root = located
        found = _walk_up(folder, f"the folder of {module}")
        if found is not None:
            return found
        return Home(import_root / FOLDER, f"next to {module}: no {FOLDER} or project marker above it")
    here = Path.cwd().resolve()
    found = _walk_up(here, "the current directory")
    if found is not None:
        return found
    return Home(here / FOLDER, f"the current directory: no {FOLDER} or project marker above it")


def _walk_up(start: Path, whence: str) -> Home | None:
    """The nearest folder from ``start`` up that has a ``.stalwart`` folder or marks a project root."""
    for folder in (start, *start.parents):
        if (folder / FOLDER).is_dir():
            return Home(folder / FOLDER, f"the nearest {FOLDER}, walking up from {whence}")
        for marker in MARKERS:
            if (folder / marker).exists():
                why = f"the project root, marked by {marker}, walking up from {whence}"
                return Home(folder / FOLDER, why)
    return None


def _location(module: str) -> tuple[Path, Path] | None:
    """The folder of an imported module's file and the folder its imports start from, unless it has no
    file, is installed (site-packages) or is stalwart's own."""
    file = getattr(sys.modules.get(module), "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    if any(part in _INSTALLED for part in path.parts) or path.is_relative_to(_STALWART):
        return None
    # a.b.c in ROOT/a/b/c.py (or ROOT/a/b/c/__init__.py): ROOT is where `import a` starts.
    depth = module.count(".") + (1 if path.stem == "__init__" else 0)
    if module == "__main__" or depth >= len(path.parents):
        return path.parent, path.parent
    return path.parent, path.parents[depth]
