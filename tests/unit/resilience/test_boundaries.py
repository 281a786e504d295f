"""resilience/ stands alone: it never imports the job framework or RQ."""

from __future__ import annotations

import ast
from pathlib import Path

import resilience


def test_resilience_imports_neither_jobs_nor_rq() -> None:
    offenders = []
    for path in Path(resilience.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("jobs", "rq")]
    assert offenders == []
