"""Running the installed console scripts from a test, and where the repository and ../shared are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
TESTS = REPO / "tests"
BIN = Path(sys.executable).parent


def run_cli(args: list[str], cwd: Path, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run one of the installed console scripts from `cwd`; fail with its output on error."""
    full_env = {**os.environ, "HYDRA_FULL_ERROR": "1", **(env or {})}
    result = subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env
    )
    return result


TINY = ["+debug=tiny", "trainer.enable_progress_bar=false"]
