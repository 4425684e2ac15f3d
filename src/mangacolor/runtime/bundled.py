"""Where the Hydra configs and the bundled demo pages are, from any working folder.

A built wheel carries them in `mangacolor/_bundled/`; an editable install or a source checkout
reads them from the repository (`conf/`, `data/demo/`).
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

from mangacolor.runtime.run_folders import run_name

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/mangacolor
REPO_DIR = PACKAGE_DIR.parent.parent


def _find(bundled: str, in_repo: str) -> Path:
    for candidate in (PACKAGE_DIR / "_bundled" / bundled, REPO_DIR / in_repo):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mangacolor's {bundled} folder is missing from the installation")


def config_dir() -> Path:
    return _find("conf", "conf")


def demo_data_dir() -> Path:
    return _find("demo", "data/demo")


def register_resolvers() -> None:
    """`${mangacolor.demo:}` in configs resolves to the bundled demo pages, `${mangacolor.run_name:}`
    to a run folder name shared by every process of a torchrun or SLURM job (see run_folders.py)."""
    if not OmegaConf.has_resolver("mangacolor.demo"):
        OmegaConf.register_new_resolver("mangacolor.demo", lambda: str(demo_data_dir()))
    if not OmegaConf.has_resolver("mangacolor.run_name"):
        # use_cache: one name per config, however often run.dir is read.
        OmegaConf.register_new_resolver(
            "mangacolor.run_name", lambda: run_name(os.environ), use_cache=True
        )
