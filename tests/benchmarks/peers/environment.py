"""The peers' virtualenv (``.venv-peers`` in the repository), the stalwart CLI's options, and versions.

The virtualenv is made once, by ``ensure_peers``, and reused while its
requirements stay the ones pinned here (recorded in its ``.installed`` file);
change a pin and the next run installs again. The peers' workers and their
enqueueing run on its Python; the harness and stalwart's workers on the
project's (``.venv``).
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

from tests.benchmarks._processes import BIN, ROOT

PEERS_VENV = ROOT / ".venv-peers"
PEERS_BIN = PEERS_VENV / "bin"
OURS_BIN = BIN
REQUIREMENTS = (
    "rq==3.0.0",
    "dramatiq[redis]==2.2.1",
    "celery[redis]==5.7.0",
    "huey==3.5.4",
    "redis==8.1.0",
    # redis-py's C parser, as stalwart (which requires it) has it in .venv: the same client on both sides.
    "hiredis==3.5.0",
)
_PACKAGES = ("rq", "dramatiq", "celery", "kombu", "huey", "redis", "hiredis")


def ensure_peers() -> Path:
    """Make (or update) the peers' virtualenv if its requirements changed; return its bin folder."""
    stamp = PEERS_VENV / ".installed"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if stamp.exists() and stamp.read_text() == wanted:
        return PEERS_BIN
    if not (PEERS_BIN / "python").exists():
        print(f"creating the peers' virtualenv in {PEERS_VENV}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    print(f"installing {', '.join(REQUIREMENTS)} there", file=sys.stderr)
    subprocess.run(
        [str(PEERS_BIN / "python"), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
        check=True,
    )
    stamp.write_text(wanted)
    return PEERS_BIN


def peer_versions() -> dict[str, str]:
    """The installed versions of the peers' packages, as their virtualenv reports them."""
    script = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"
    )
    out = subprocess.run(
        [str(PEERS_BIN / "python"), "-c", script, *_PACKAGES], check=True, capture_output=True, text=True
    ).stdout
    versions: dict[str, str] = json.loads(out)
    return versions


def stalwart_options() -> set[str]:
    """The long options ``stalwart worker`` accepts (from its ``--help``)."""
    out = subprocess.run(
        [str(OURS_BIN / "stalwart"), "worker", "--help"], check=True, capture_output=True, text=True
    ).stdout
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", out))


def machine() -> str:
    """The CPU model, core count, OS and Python, in one line."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )
