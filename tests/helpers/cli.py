"""Running the installed console scripts from a test, and where the repository and ../shared are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
TESTS = REPO / "tests"
BIN = Path(sys.executable).parent


def run_cli(
    args: list[str], cwd: Path, timeout: int = 300, env: dict | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Run one of the installed console scripts from `cwd`; fail the test with its output when it exits
    with an error. `check=False` is for a test that expects the failure and reads it from the result."""
    full_env = {**os.environ, "HYDRA_FULL_ERROR": "1", **(env or {})}
    result = subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited with {result.returncode}\n"
            f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-6000:]}",
            pytrace=False,
        )
    return result


TINY = ["+debug=tiny", "trainer.enable_progress_bar=false"]
