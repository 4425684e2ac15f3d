"""mangacolor-studio as a user starts it: the address with a token printed, the page served, a
warning for a host other than this machine, each bad option named, and Ctrl-C stopping it
cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import tomllib

pytest.importorskip(
    "uvicorn", reason="the studio extra is not installed: pip install -e '.[studio]'"
)
pytest.importorskip("httpx", reason="the studio extra is not installed: pip install -e '.[studio]'")

import httpx  # noqa: E402
from helpers.cli import REPO  # noqa: E402
from helpers.generators import TINY  # noqa: E402
from helpers.studio import hint_unet, make_chapter  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from mangacolor.inference.generator_file import export_generator  # noqa: E402
from mangacolor.runtime.config_errors import ConfigError  # noqa: E402
from mangacolor.studio.settings import StudioSettings  # noqa: E402

ADDRESS = re.compile(r"Open (http://127\.0\.0\.1:(\d+)/\?token=(\S+))")


def start(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HYDRA_FULL_ERROR": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "mangacolor.commands.studio", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_console_script_the_extra_and_make_studio_are_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["mangacolor-studio"] == "mangacolor.commands.studio:main"
    studio = {re.split(r"[<>=]", name)[0] for name in project["optional-dependencies"]["studio"]}
    assert studio == {"starlette", "uvicorn", "python-multipart", "httpx"}
    assert any(name.startswith("selenium") for name in project["optional-dependencies"]["test"])
    makefile = (REPO / "Makefile").read_text()
    assert "'.[test,export,studio]'" in makefile
    assert re.search(r"^studio: .*##", makefile, re.MULTILINE)


def test_the_command_prints_its_address_serves_and_stops_cleanly_on_ctrl_c(tmp_path):
    model = export_generator(hint_unet(), TINY, tmp_path / "generator.pt")
    make_chapter(tmp_path / "chapter", 2)
    process = start(
        [
            f"ckpt_path={model}",
            f"input={tmp_path / 'chapter'}",
            f"output={tmp_path / 'out'}",
            "port=0",
        ],
        tmp_path,
    )
    try:
        lines, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if ADDRESS.search(line) or not line:
                break
        match = ADDRESS.search("".join(lines))
        assert match, "".join(lines) + process.stderr.read()
        url, port, token = match.groups()
        assert "2 pages" in "".join(lines) and "takes hints" in "".join(lines)
        for _ in range(100):
            try:
                page = httpx.get(url, timeout=5)
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert page.status_code == 200 and "studio.js" in page.text
        assert httpx.get(f"http://127.0.0.1:{port}/api/state", timeout=5).status_code == 403
        state = httpx.get(
            f"http://127.0.0.1:{port}/api/state", headers={"X-Studio-Token": token}, timeout=5
        )
        assert len(state.json()["pages"]) == 2
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err


@pytest.mark.slow
def test_a_host_other_than_this_machine_is_warned_about(tmp_path):
    model = export_generator(hint_unet(), TINY, tmp_path / "generator.pt")
    process = start(
        [f"ckpt_path={model}", f"output={tmp_path / 'out'}", "port=0", "host=0.0.0.0"], tmp_path
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "Open http" not in (
            process.stdout.readline() or "Open http"
        ):
            pass
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert "host=0.0.0.0: other machines on the network can reach the studio" in err


@pytest.mark.parametrize(
    "override, key",
    [
        ({"port": 70000}, "port"),
        ({"chroma": -1}, "chroma"),
        ({"compose": "paint"}, "compose"),
        ({"ckpt_path": None}, "ckpt_path"),
        ({"short_side": 0}, "short_side"),
        ({"input": "/no/such/chapter"}, "input"),
    ],
)
def test_bad_settings_name_their_key(tmp_path, override, key):
    config = OmegaConf.load(REPO / "conf" / "studio.yaml")
    config.ckpt_path = str(tmp_path / "g.pt")
    for name, value in override.items():
        config[name] = value
    with pytest.raises(ConfigError, match=key):
        StudioSettings.from_config(config)


def test_a_missing_checkpoint_is_one_line(tmp_path):
    process = start([f"ckpt_path={tmp_path / 'none.pt'}", f"output={tmp_path / 'out'}"], tmp_path)
    _, err = process.communicate(timeout=120)
    assert process.returncode != 0
    assert err.strip().splitlines()[-1].startswith("mangacolor-studio: error: checkpoint not found")
