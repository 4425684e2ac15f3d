"""The studio's web API through Starlette's test client: pages, previews, hint files, the palette,
uploads, saving, the chapter, and what it refuses (wrong token, Host or Origin, path tricks, bad
files)."""

from __future__ import annotations

import io
import json
import socket
import time
from pathlib import Path

import pytest

pytest.importorskip(
    "starlette", reason="the studio extra is not installed: pip install -e '.[studio]'"
)
pytest.importorskip("httpx", reason="the studio extra is not installed: pip install -e '.[studio]'")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from helpers.generators import TINY, vivid_unet  # noqa: E402
from helpers.studio import draw_line_page, hint_unet, make_cbz, make_chapter  # noqa: E402
from PIL import Image  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from mangacolor.colorize.archives import ArchiveError  # noqa: E402
from mangacolor.inference.generator_file import export_generator  # noqa: E402
from mangacolor.inference.hint_files import read_hint_file  # noqa: E402
from mangacolor.studio.app import create_app  # noqa: E402
from mangacolor.studio.engine import color_layer, multiply  # noqa: E402
from mangacolor.studio.guard import allowed_hosts  # noqa: E402
from mangacolor.studio.server import build_studio  # noqa: E402
from mangacolor.studio.settings import StudioSettings  # noqa: E402

HINTS = {
    "version": 1,
    "hints": [
        {"x": 20, "y": 30, "color": "#d9a066", "size": 7},
        {"points": [[60, 10], [70, 40]], "color": "#3a5fcd", "size": 5},
    ],
}


@pytest.fixture(scope="module")
def generator_path(tmp_path_factory) -> Path:
    return export_generator(vivid_unet(), TINY, tmp_path_factory.mktemp("model") / "generator.pt")


@pytest.fixture
def chapter(tmp_path) -> Path:
    folder = tmp_path / "chapter"
    make_chapter(folder, 2)
    loose = make_chapter(tmp_path / "loose", 2)
    make_cbz(folder / "extra.cbz", {"a/01.png": loose[0], "a/02.png": loose[1]})
    return folder


def studio_client(generator_path, chapter, output, token_in_headers=True, **settings):
    studio = build_studio(StudioSettings(generator_path, output, chapter, **settings))
    client = TestClient(create_app(studio, hosts={"testserver"}))
    if token_in_headers:
        client.headers["X-Studio-Token"] = studio.token
    return client, studio


@pytest.fixture
def client(generator_path, chapter, tmp_path):
    client, studio = studio_client(generator_path, chapter, tmp_path / "out")
    with client:
        yield client


def png(response) -> torch.Tensor:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return pixels(Image.open(io.BytesIO(response.content)))


def pixels(image: Image.Image) -> torch.Tensor:
    """uint8 (C, H, W): RGBA for an image with alpha, else RGB."""
    image = image.convert("RGBA" if image.mode == "RGBA" else "RGB")
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


def test_pages_are_listed_by_index_with_archive_members_and_the_page_is_served(client):
    state = client.get("/api/state").json()
    assert [p["name"] for p in state["pages"]] == [
        "extra.cbz: a/01.png",
        "extra.cbz: a/02.png",
        "p001.png",
        "p002.png",
    ]
    assert [p["index"] for p in state["pages"]] == [0, 1, 2, 3]
    assert state["model"]["hints"] is False and state["palette"] == []
    assert png(client.get("/api/pages/2/image")).shape == (3, 64, 96)
    page = client.get("/")
    assert page.status_code == 200 and "studio.js" in page.text
    assert "preview" in client.get("/static/studio.js").text


def test_preview_without_hints_is_the_automatic_colouring_at_the_width_asked(client):
    small = png(client.post("/api/pages/2/preview", json={"width": 48, "seq": 1}))
    assert small.shape == (3, 32, 48)
    full = png(client.post("/api/pages/2/preview", json={"seq": 2}))
    assert full.shape == (3, 64, 96)


def test_preview_with_hints_on_a_model_without_hint_inputs_says_so(client):
    response = client.post("/api/pages/2/preview", json={"hints": HINTS["hints"], "seq": 1})
    assert response.status_code == 200 and "takes no hints" in response.headers["X-Studio-Warning"]


def test_preview_with_hints_on_a_hint_model_uses_them_and_the_saved_ones_by_default(
    chapter, tmp_path
):
    model = export_generator(hint_unet(), TINY, tmp_path / "hint_generator.pt")
    client, studio = studio_client(model, chapter, tmp_path / "out")
    with client:
        assert client.get("/api/state").json()["model"]["hints"] is True
        plain = png(client.post("/api/pages/2/preview", json={"seq": 1, "hints": []}))
        hinted = client.post("/api/pages/2/preview", json={"seq": 2, "hints": HINTS["hints"]})
        assert "X-Studio-Warning" not in hinted.headers
        hinted = png(hinted)
        assert (hinted.int() - plain.int()).abs().max() > 0, "the hints changed nothing"
        client.put("/api/pages/2/hints", json=HINTS)
        saved = png(client.post("/api/pages/2/preview", json={"seq": 3}))
    assert torch.equal(saved, hinted)


def test_a_stale_preview_is_dropped(client):
    # seq 5 asked first, then seq 3 for the same page arrives late: it is older, so it is dropped.
    assert client.post("/api/pages/2/preview", json={"seq": 5}).status_code == 200
    assert client.post("/api/pages/2/preview", json={"seq": 3}).status_code == 204


def test_saved_hints_are_the_hint_file_colorize_reads_and_come_back_after_a_restart(
    generator_path, chapter, tmp_path
):
    output = tmp_path / "out"
    client, _ = studio_client(generator_path, chapter, output)
    with client:
        saved = client.put("/api/pages/0/hints", json=HINTS).json()
        assert saved["saved"] == "hints/extra/a/01.json"
        client.put("/api/pages/2/hints", json=HINTS)
    file = output / "hints" / "p001.json"
    assert json.loads(file.read_text())["hints"] == HINTS["hints"]
    expected = read_hint_file(file, (64, 96))
    assert len(expected.marks) == 2
    client, _ = studio_client(generator_path, chapter, output)  # the studio started again
    with client:
        again = client.get("/api/pages/2/hints").json()
    assert again["hints"] == HINTS["hints"] and again["file"] == "hints/p001.json"
    assert again["width"] == 96 and again["height"] == 64


@pytest.mark.parametrize(
    "hints, field",
    [
        ([{"x": 20, "y": 30, "color": "red", "size": 7}], "color"),
        ([{"x": 500, "y": 30, "color": "#d9a066", "size": 7}], "x"),
        ([{"x": 20, "y": 30, "color": "#d9a066", "size": -1}], "size"),
        ("dots", "hints"),
    ],
)
def test_bad_hints_are_refused_with_the_field_named_and_nothing_written(
    client, hints, field, tmp_path
):
    response = client.put("/api/pages/2/hints", json={"version": 1, "hints": hints})
    assert response.status_code == 400 and field in response.json()["error"]
    assert not (tmp_path / "out" / "hints" / "p001.json").exists()


def test_the_palette_is_kept_in_palette_json(generator_path, chapter, tmp_path):
    client, _ = studio_client(generator_path, chapter, tmp_path / "out")
    colors = [{"name": "hero's hair", "color": "#D9A066"}, {"name": "sky", "color": "#3a5fcd"}]
    with client:
        assert client.put("/api/palette", json={"colors": colors}).status_code == 200
        bad = client.put("/api/palette", json={"colors": [{"name": "x", "color": "blue"}]})
        assert bad.status_code == 400 and "colors[0].color" in bad.json()["error"]
    kept = json.loads((tmp_path / "out" / "palette.json").read_text())["colors"]
    assert kept == [
        {"name": "hero's hair", "color": "#d9a066"},
        {"name": "sky", "color": "#3a5fcd"},
    ]
    client, _ = studio_client(generator_path, chapter, tmp_path / "out")
    with client:
        assert client.get("/api/state").json()["palette"] == kept


def upload(client, name: str, data: bytes):
    return client.post("/api/upload", files={"file": (name, data, "application/octet-stream")})


def test_uploads_are_saved_under_pages_with_a_number_rather_than_overwriting(client, tmp_path):
    data = draw_line_page(tmp_path / "mine.png").read_bytes()
    first = upload(client, "mine.png", data).json()
    second = upload(client, "../../mine.png", data).json()
    assert (tmp_path / "out" / "pages" / "mine.png").read_bytes() == data
    assert (tmp_path / "out" / "pages" / "mine_2.png").read_bytes() == data
    assert (first["index"], second["index"]) == (4, 5)
    assert (
        client.put(f"/api/pages/{second['index']}/hints", json=HINTS).json()["saved"]
        == "hints/pages/mine_2.json"
    )
    assert not (tmp_path / "mine.png").with_name("mine_2.png").exists()


def test_bad_uploads_are_refused_with_a_clear_message(generator_path, chapter, tmp_path):
    client, _ = studio_client(
        generator_path, chapter, tmp_path / "out", max_pixels=10_000, max_upload_bytes=50_000
    )
    big = io.BytesIO()
    Image.new("L", (200, 200)).save(big, format="PNG")
    with client:
        cases = {
            "notes.png": (b"this is not an image at all", "notes.png"),
            "tool.exe": (b"MZ....", "not a page"),
            "huge.png": (big.getvalue(), "over the limit of 10000 (max_pixels)"),
            "heavy.png": (b"\x89PNG" + b"0" * 60_000, "max_upload_bytes"),
        }
        for name, (data, message) in cases.items():
            response = upload(client, name, data)
            assert response.status_code == 400, name
            assert message in response.json()["error"], (name, response.json())
        assert len(client.get("/api/state").json()["pages"]) == 4
    assert not (tmp_path / "out" / "pages").exists() or not any(
        (tmp_path / "out" / "pages").iterdir()
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/pages/4/image",
        "/api/pages/-1/image",
        "/api/pages/..%2F..%2Fetc/image",
        "/api/pages/p001.png/hints",
        "/api/pages/1e3/image",
    ],
)
def test_pages_are_named_by_index_only(client, path):
    response = client.get(path)
    assert response.status_code in (400, 404) and "passwd" not in response.text


def test_static_files_stay_in_the_package(client):
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py"):
        assert client.get(path).status_code == 404


def test_an_archive_climbing_out_is_refused_before_anything(generator_path, tmp_path):
    page = draw_line_page(tmp_path / "x.png")
    bad = make_cbz(tmp_path / "bad.cbz", {"../escape.png": page})
    with pytest.raises(ArchiveError, match="outside"):
        build_studio(StudioSettings(generator_path, tmp_path / "out", bad))
    folder = tmp_path / "folder"
    draw_line_page(folder / "ok.png")
    make_cbz(folder / "bad.cbz", {"../escape.png": page})
    studio = build_studio(StudioSettings(generator_path, tmp_path / "out2", folder))
    assert [p.name for p in studio.book.pages] == ["ok.png"] and "outside" in studio.book.unlisted[
        0
    ]


def test_a_wrong_token_host_or_origin_is_refused(generator_path, chapter, tmp_path):
    client, studio = studio_client(
        generator_path, chapter, tmp_path / "out", token_in_headers=False
    )
    with client:
        assert client.get("/api/state").status_code == 403
        assert client.get("/").status_code == 403
        assert client.get("/api/state", headers={"X-Studio-Token": "guess"}).status_code == 403
        assert client.get(f"/api/state?token={studio.token}").status_code == 200
        assert client.get(f"/?token={studio.token}").status_code == 200
        good = {"X-Studio-Token": studio.token}
        assert (
            client.get("/api/state", headers={**good, "Host": "evil.example:8765"}).status_code
            == 403
        )
        cross = client.put(
            "/api/pages/2/hints", json=HINTS, headers={**good, "Origin": "http://evil.example"}
        )
        assert cross.status_code == 403 and "another site" in cross.json()["error"]
        assert (
            client.put(
                "/api/pages/2/hints", json=HINTS, headers={**good, "Origin": "http://testserver"}
            ).status_code
            == 200
        )
        assert (
            client.get("/static/studio.css", headers={"Host": "rebound.example"}).status_code == 403
        )
    assert read_hint_file(
        tmp_path / "out" / "hints" / "p001.json", (64, 96)
    ).marks  # only the same-origin write


def test_save_writes_the_page_and_a_colour_layer_that_multiplies_back(client, tmp_path):
    saved = client.post("/api/pages/2/save", json={}).json()
    assert (saved["page"], saved["layer"]) == ("saved/p001.png", "saved/p001.layer.png")
    page = pixels(Image.open(tmp_path / "chapter" / "p001.png"))
    colored = png(client.get("/api/pages/2/saved/page"))
    layer = png(client.get("/api/pages/2/saved/layer"))
    assert layer.shape == (4, 64, 96)
    assert (multiply(page, layer).int() - colored.int()).abs().max() <= 2
    assert saved["layer_error"] <= 2
    assert (layer[3][page.amax(0) == 0] == 0).float().mean() > 0.5, (
        "pure ink stays mostly transparent"
    )


def test_colour_the_chapter_runs_colorize_with_progress(client, tmp_path):
    started = client.post("/api/chapter", json={}).json()
    assert started["started"] is True
    for _ in range(600):
        state = client.get("/api/chapter").json()
        if not state["running"]:
            break
        time.sleep(0.1)
    assert state["error"] == "" and "4 pages coloured" in state["summary"], state
    assert (state["done"], state["total"]) == (4, 4)
    assert (tmp_path / "out" / "colored" / "p001.png").exists()
    assert (tmp_path / "out" / "colored" / "extra.cbz").exists()


def run_chapter(client) -> dict:
    assert client.post("/api/chapter", json={}).json()["started"] is True
    for _ in range(600):
        state = client.get("/api/chapter").json()
        if not state["running"]:
            return state
        time.sleep(0.1)
    raise AssertionError("the chapter run did not end")


def test_colour_the_chapter_uses_the_saved_hints_as_colorize_hints_does(chapter, tmp_path):
    model = export_generator(hint_unet(), TINY, tmp_path / "hint_generator.pt")
    client, studio = studio_client(model, chapter, tmp_path / "out")
    with client:
        assert client.put("/api/pages/2/hints", json=HINTS).status_code == 200  # p001.png
        assert client.put("/api/pages/0/hints", json=HINTS).status_code == 200  # extra.cbz a/01.png
        state = run_chapter(client)
    assert state["error"] == "" and "4 pages coloured" in state["summary"], state
    assert "match no page" not in state["summary"]
    settings = studio.chapter.colorize_settings()
    assert settings.hints == tmp_path / "out" / "hints"
    from dataclasses import replace

    from mangacolor.colorize.job import colorize

    colorize(replace(settings, output=tmp_path / "cli"), say=lambda m: None)
    colorize(replace(settings, output=tmp_path / "auto", hints=None), say=lambda m: None)
    chapter_page = pixels(Image.open(tmp_path / "out" / "colored" / "p001.png"))
    assert torch.equal(chapter_page, pixels(Image.open(tmp_path / "cli" / "p001.png")))
    automatic = pixels(Image.open(tmp_path / "auto" / "p001.png"))
    assert (chapter_page.int() - automatic.int()).abs().max() > 0, "the saved hints were not used"
    assert torch.equal(
        pixels(Image.open(tmp_path / "out" / "colored" / "p002.png")),
        pixels(Image.open(tmp_path / "auto" / "p002.png")),
    )


def test_colour_the_chapter_with_a_model_without_hint_inputs_ignores_saved_hints(client, tmp_path):
    assert client.put("/api/pages/2/hints", json=HINTS).status_code == 200
    state = run_chapter(client)
    assert state["error"] == "" and "4 pages coloured" in state["summary"], state


def test_the_hosts_answered_are_this_machines():
    local = allowed_hosts("127.0.0.1", 8765)
    assert {"127.0.0.1:8765", "localhost:8765", "[::1]:8765"} <= local
    assert not any(name.startswith("0.0.0.0") for name in local)
    every = allowed_hosts("0.0.0.0", 8765)
    assert f"{socket.gethostname()}:8765" in every


def test_a_waiting_preview_is_dropped_only_for_its_own_tab(client):
    assert (
        client.post("/api/pages/2/preview", json={"seq": 50, "client": "tab-a"}).status_code == 200
    )
    # another tab counts its own previews from 1: not stale
    assert (
        client.post("/api/pages/2/preview", json={"seq": 1, "client": "tab-b"}).status_code == 200
    )
    assert (
        client.post("/api/pages/2/preview", json={"seq": 40, "client": "tab-a"}).status_code == 204
    )


def test_a_page_hinted_by_a_painted_layer_is_coloured_with_it_but_not_edited(client, tmp_path):
    layer = Image.new("RGBA", (96, 64), (0, 0, 0, 0))
    layer.paste((200, 60, 60, 255), (10, 10, 30, 30))
    (tmp_path / "out" / "hints").mkdir(parents=True)
    layer.save(tmp_path / "out" / "hints" / "p001.png")
    shown = client.get("/api/pages/2/hints").json()
    assert shown["layer"] is True and shown["hints"] == [] and shown["file"] == "hints/p001.png"
    refused = client.put("/api/pages/2/hints", json=HINTS)
    assert refused.status_code == 400 and "painted layer" in refused.json()["error"]
    assert not (tmp_path / "out" / "hints" / "p001.json").exists()


def test_the_colour_layer_says_what_multiply_cannot_give_back():
    white = torch.full((3, 4, 4), 255, dtype=torch.uint8)
    colored = torch.tensor([200, 120, 40], dtype=torch.uint8).view(3, 1, 1).expand(3, 4, 4).clone()
    layer, worst = color_layer(white, colored)
    assert worst == 0 and torch.equal(multiply(white, layer), colored)
    assert torch.equal(color_layer(white, white)[0][3], torch.zeros(4, 4, dtype=torch.uint8))
    grey = torch.full((3, 4, 4), 100, dtype=torch.uint8)
    _, worst = color_layer(grey, colored)  # 200 and 120 are lighter than the page: Multiply darkens
    assert worst == 100
