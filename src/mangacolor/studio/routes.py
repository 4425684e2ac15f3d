"""The studio's web API: one handler per route, each finding the studio on `request.app.state`.

Pages are named by their index; every write lands under `output` (hints, palette, uploads, saved
pages, the chapter's pages). Slow work (decoding, the model, encoding) runs in threads, so the
server keeps answering while a preview is made.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from mangacolor.hints.marks import PageHints
from mangacolor.inference.compose import COMPOSE_MODES, is_chroma
from mangacolor.inference.hint_files import HintFileError
from mangacolor.runtime.atomic import atomic_write
from mangacolor.studio.engine import color_layer
from mangacolor.studio.hint_store import load_hints, marks_as_json, parse_hints, save_hints
from mangacolor.studio.pages import UploadRefused, png_bytes
from mangacolor.studio.palette import PaletteError, check_palette, read_palette, write_palette
from mangacolor.studio.session import Studio

STATIC = Path(__file__).parent / "static"
SAVED = "saved"  # single pages saved from the page, and their colour layers
MAX_JSON_BYTES = 4 << 20  # a hint file of tens of thousands of points fits


class BadRequest(ValueError):
    """A request the studio cannot take; str() is the message the page shows."""


def studio_of(request: Request) -> Studio:
    return request.app.state.studio


def error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def page_index(request: Request, studio: Studio) -> int:
    try:
        index = int(request.path_params["index"])
        studio.book.page(index)
    except (ValueError, IndexError):
        raise BadRequest(
            f"no page {request.path_params['index']!r}: pages are numbered 0 to "
            f"{len(studio.book) - 1}"
        ) from None
    return index


async def read_json(request: Request) -> object:
    body = await request.body()
    if len(body) > MAX_JSON_BYTES:
        raise BadRequest(f"request of {len(body)} bytes, over {MAX_JSON_BYTES}")
    try:
        return json.loads(body or b"null")
    except json.JSONDecodeError as problem:
        raise BadRequest(f"not JSON: {problem}") from None


def look(body: object, studio: Studio) -> tuple[str, float]:
    """compose and chroma from a request body, checked, defaulting to the settings."""
    body = body if isinstance(body, dict) else {}
    compose = body.get("compose", studio.settings.compose)
    chroma = body.get("chroma", studio.settings.chroma)
    if compose not in COMPOSE_MODES:
        raise BadRequest(f"compose must be one of {', '.join(COMPOSE_MODES)}, got {compose!r}")
    if isinstance(chroma, bool) or not isinstance(chroma, (int, float)) or not is_chroma(chroma):
        raise BadRequest(f"chroma must be a number >= 0, got {chroma!r}")
    if compose in COMPOSE_MODES[2:] and getattr(studio.engine.generator, "predicts", "ab") != "lab":
        raise BadRequest(f"compose {compose} needs a full-colour generator; this one predicts ab")
    return compose, float(chroma)


async def page_rgb(studio: Studio, index: int) -> torch.Tensor:
    return await run_in_threadpool(studio.book.rgb, index)


def page_size(rgb: torch.Tensor) -> tuple[int, int]:
    # (height, width), as the hint reader takes it
    return int(rgb.shape[-2]), int(rgb.shape[-1])


async def state(request: Request) -> Response:
    studio = studio_of(request)
    palette, palette_error = [], ""
    try:
        palette = read_palette(studio.settings.output)
    except PaletteError as problem:
        palette_error = str(problem)
    return JSONResponse(
        {
            "pages": [
                {"index": p.index, "name": p.name, "uploaded": p.uploaded}
                for p in studio.book.pages
            ],
            "unlisted": studio.book.unlisted,
            "palette": palette,
            "palette_error": palette_error,
            "model": {
                "hints": studio.engine.takes_hints,
                "predicts": getattr(studio.engine.generator, "predicts", "ab"),
                "file": studio.settings.ckpt_path.name,
            },
            "compose": studio.settings.compose,
            "chroma": studio.settings.chroma,
            "compose_modes": list(COMPOSE_MODES),
            "output": str(studio.settings.output),
            "chapter": studio.settings.input is not None
            or any(p.uploaded for p in studio.book.pages),
        }
    )


async def image(request: Request) -> Response:
    studio = studio_of(request)
    rgb = await page_rgb(studio, page_index(request, studio))
    return Response(
        await run_in_threadpool(png_bytes, rgb),
        media_type="image/png",
        headers={"Cache-Control": "no-store"},
    )


async def get_hints(request: Request) -> Response:
    studio = studio_of(request)
    index = page_index(request, studio)
    rgb = await page_rgb(studio, index)
    try:
        hints, path = load_hints(
            studio.hints_root, studio.book.page(index).relative, page_size(rgb)
        )
    except HintFileError as problem:
        return JSONResponse(
            {
                "version": 1,
                "hints": [],
                "width": rgb.shape[-1],
                "height": rgb.shape[-2],
                "layer": False,
                "error": str(problem),
            }
        )
    return JSONResponse(
        {
            "version": 1,
            "hints": marks_as_json(hints),
            "layer": hints.layer is not None,
            "width": rgb.shape[-1],
            "height": rgb.shape[-2],
            "file": str(path.relative_to(studio.settings.output)) if path else None,
        }
    )


async def put_hints(request: Request) -> Response:
    studio = studio_of(request)
    index = page_index(request, studio)
    body = await read_json(request)
    rgb = await page_rgb(studio, index)
    hints = parse_hints(body, page_size(rgb))
    path = await run_in_threadpool(
        save_hints, studio.hints_root, studio.book.page(index).relative, hints
    )
    return JSONResponse(
        {"saved": str(path.relative_to(studio.settings.output)), "marks": len(hints.marks)}
    )


async def current_hints(
    studio: Studio, index: int, body: object, rgb: torch.Tensor
) -> PageHints | None:
    """The hints a request sends (the page as the user sees it), else those saved."""
    if isinstance(body, dict) and "hints" in body:
        return parse_hints(body, page_size(rgb))
    try:
        hints, _ = load_hints(studio.hints_root, studio.book.page(index).relative, page_size(rgb))
    except HintFileError as problem:
        raise BadRequest(str(problem)) from None
    return hints


async def preview(request: Request) -> Response:
    studio = studio_of(request)
    index = page_index(request, studio)
    body = await read_json(request)
    compose, chroma = look(body, studio)
    body = body if isinstance(body, dict) else {}
    width, seq, tab = body.get("width", 0), body.get("seq", 0), body.get("client", "")
    if (
        not isinstance(width, int)
        or isinstance(width, bool)
        or width < 0
        or not isinstance(seq, int)
    ):
        raise BadRequest("width and seq must be whole numbers (width 0: the page's own)")
    if not isinstance(tab, str) or len(tab) > 64:
        raise BadRequest("client must be a tab's id of at most 64 characters")
    rgb = await page_rgb(studio, index)
    hints = await current_hints(studio, index, body, rgb)
    width = width or rgb.shape[-1]
    colored = await run_in_threadpool(
        studio.engine.preview, (tab, index), seq, rgb, hints, compose, chroma, width
    )
    if colored is None:
        return Response(status_code=204, headers={"X-Studio-Stale": "1"})
    headers = {"Cache-Control": "no-store", "X-Studio-Seq": str(seq)}
    if hints and not studio.engine.takes_hints:
        headers["X-Studio-Warning"] = (
            "this model takes no hints: the preview is its automatic colouring"
        )
    return Response(
        await run_in_threadpool(png_bytes, colored), media_type="image/png", headers=headers
    )


def saved_paths(studio: Studio, index: int) -> tuple[Path, Path]:
    """Where Save writes a page's colouring and its colour layer: output/saved/<page>.png and
    <page>.layer.png."""
    relative = studio.book.page(index).relative
    stem = Path(studio.settings.output, SAVED, *relative.parts).with_suffix("")
    return stem.with_suffix(".png"), stem.with_name(stem.name + ".layer.png")


async def save(request: Request) -> Response:
    """The coloured page at full size, and its colour layer, under output/saved/."""
    studio = studio_of(request)
    index = page_index(request, studio)
    body = await read_json(request)
    compose, chroma = look(body, studio)
    rgb = await page_rgb(studio, index)
    hints = await current_hints(studio, index, body, rgb)
    colored = await run_in_threadpool(studio.engine.color, rgb, hints, compose, chroma)
    layer, layer_error = await run_in_threadpool(color_layer, rgb, colored)
    page_file, layer_file = saved_paths(studio, index)
    for target, pixels in ((page_file, colored), (layer_file, layer)):
        data = await run_in_threadpool(png_bytes, pixels)
        with atomic_write(target) as handle:
            handle.write(data)
    return JSONResponse(
        {
            "page": str(page_file.relative_to(studio.settings.output)),
            "layer": str(layer_file.relative_to(studio.settings.output)),
            "layer_error": layer_error,
        }
    )


async def saved_file(request: Request) -> Response:
    studio = studio_of(request)
    index = page_index(request, studio)
    kind = request.path_params["kind"]
    if kind not in ("page", "layer"):
        raise BadRequest("kind is page or layer")
    page_file, layer_file = saved_paths(studio, index)
    path = page_file if kind == "page" else layer_file
    if not path.is_file():
        return error("not saved yet: press Save first", 404)
    return FileResponse(path, media_type="image/png", filename=path.name)


async def upload(request: Request) -> Response:
    studio = studio_of(request)
    limit = studio.settings.max_upload_bytes
    # refused before reading when the request says it is too large (64 KiB for the form's framing)
    if int(request.headers.get("content-length") or 0) > limit + (1 << 16):
        raise UploadRefused(f"upload over the limit of {limit} bytes (max_upload_bytes)")
    async with request.form(max_files=1, max_fields=4, max_part_size=limit) as form:
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise UploadRefused("no file in the upload (the form field is 'file')")
        data = await file.read(limit + 1)
        name = file.filename or "page.png"
    page = await run_in_threadpool(studio.book.upload, name, data)
    return JSONResponse({"index": page.index, "name": page.name})


async def get_palette(request: Request) -> Response:
    studio = studio_of(request)
    return JSONResponse({"colors": read_palette(studio.settings.output)})


async def put_palette(request: Request) -> Response:
    studio = studio_of(request)
    colors = check_palette(await read_json(request))
    write_palette(studio.settings.output, colors)
    return JSONResponse({"colors": colors})


async def chapter_start(request: Request) -> Response:
    studio = studio_of(request)
    compose, chroma = look(await read_json(request), studio)
    if not studio.chapter_source()[0].exists():
        raise BadRequest("no pages to colour: give input= or upload pages")
    started = studio.chapter.start(compose, chroma)
    return JSONResponse({"started": started, **vars(studio.chapter.state)})


async def chapter_state(request: Request) -> Response:
    studio = studio_of(request)
    return JSONResponse({**vars(studio.chapter.state), "output": str(studio.chapter.output)})


async def index_page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("/", index_page),
    Route("/api/state", state),
    Route("/api/pages/{index}/image", image),
    Route("/api/pages/{index}/hints", get_hints, methods=["GET"]),
    Route("/api/pages/{index}/hints", put_hints, methods=["PUT"]),
    Route("/api/pages/{index}/preview", preview, methods=["POST"]),
    Route("/api/pages/{index}/save", save, methods=["POST"]),
    Route("/api/pages/{index}/saved/{kind}", saved_file),
    Route("/api/upload", upload, methods=["POST"]),
    Route("/api/palette", get_palette, methods=["GET"]),
    Route("/api/palette", put_palette, methods=["PUT"]),
    Route("/api/chapter", chapter_start, methods=["POST"]),
    Route("/api/chapter", chapter_state, methods=["GET"]),
]
