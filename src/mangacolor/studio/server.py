"""Start the studio: load the one model, list the pages, print the address with its token, serve
until Ctrl-C (uvicorn stops cleanly on SIGINT and SIGTERM)."""

from __future__ import annotations

import dataclasses
import socket
import sys
import warnings
import webbrowser

from mangacolor.inference.generator_file import load_generator
from mangacolor.runtime.devices import resolve_device, resolve_precision
from mangacolor.runtime.fast_path import fast_generator, resolve_channels_last
from mangacolor.studio.engine import ColorEngine
from mangacolor.studio.pages import PageBook
from mangacolor.studio.session import Studio
from mangacolor.studio.settings import StudioSettings


class StudioError(Exception):
    """A problem that stops the studio from starting (its message names what to change)."""


def build_studio(settings: StudioSettings) -> Studio:
    if not settings.ckpt_path.is_file():
        raise StudioError(
            f"checkpoint not found: {settings.ckpt_path} "
            "(ckpt_path: a generator.pt or a training .ckpt)"
        )
    generator, _ = load_generator(settings.ckpt_path)
    short_side = settings.short_side or generator.training_size or generator.multiple
    # colorize's own fast path (precision, layout), so a saved page is the page colorize writes
    device = resolve_device(settings.device)
    precision = resolve_precision("auto", device, bf16_cpu=True)
    generator = fast_generator(
        generator.to(device), resolve_channels_last("auto", device, precision), False, precision
    )
    settings.output.mkdir(parents=True, exist_ok=True)
    book = PageBook(
        settings.input,
        settings.output,
        settings.max_pixels,
        settings.archive_limits,
        settings.max_upload_bytes,
    )
    return Studio(settings, book, ColorEngine(generator, short_side, device, precision))


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def address(host: str, port: int, token: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


def serve(settings: StudioSettings) -> None:
    try:  # the studio extra: imported here, so a missing one is a message, not a traceback
        import uvicorn

        from mangacolor.studio.app import create_app
    except ImportError as missing:
        raise StudioError(
            f"the studio needs its extra ({missing.name} is missing): "
            "pip install 'mangacolor[studio]' (make install does)"
        ) from None

    if not settings.is_local:
        warnings.warn(
            f"mangacolor-studio: host={settings.host}: other machines on the network can reach "
            "the studio; only those given the address with its token can use it",
            stacklevel=1,
        )
    studio = build_studio(settings)
    port = settings.port or free_port(settings.host)
    studio.settings = dataclasses.replace(settings, port=port)
    app = create_app(studio)
    url = address(settings.host, port, studio.token)
    pages = len(studio.book)
    kind = (
        "takes hints" if studio.engine.takes_hints else "takes no hints: automatic colouring only"
    )
    print(
        f"mangacolor-studio: {pages} page{'s' if pages != 1 else ''}, model {settings.ckpt_path} "
        f"({kind}); "
        f"writes under {settings.output}",
        flush=True,
    )
    for message in studio.book.unlisted:
        print(f"  skipped {message}", file=sys.stderr)
    print(f"Open {url}\n(Ctrl-C stops it)", flush=True)
    if settings.open_browser:
        webbrowser.open(url)
    config = uvicorn.Config(app, host=settings.host, port=port, log_level="warning", lifespan="off")
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:  # uvicorn has shut down cleanly, then re-raises the signal it caught
        pass
    print(
        f"mangacolor-studio: stopped; every hint was already saved under {studio.hints_root}",
        flush=True,
    )
