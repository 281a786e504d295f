"""Fixtures shared by the integration tests' modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.installed import build_wheel


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's wheel, built once for the session from a clean copy of the sources."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))
