"""The studio's web application: its routes (`mangacolor.studio.routes`), its static page, the
errors a user can cause turned into one-line messages, and the guard in front of it all."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from mangacolor.colorize.archives import ArchiveError
from mangacolor.data.files import UnreadableImage
from mangacolor.inference.hint_files import HintFileError
from mangacolor.studio.guard import GuardMiddleware, allowed_hosts
from mangacolor.studio.hint_store import HintsRefused
from mangacolor.studio.pages import UploadRefused
from mangacolor.studio.palette import PaletteError
from mangacolor.studio.routes import ROUTES, STATIC, BadRequest, error
from mangacolor.studio.session import Studio

# What a user's request can get wrong; each becomes a 400 with its message, shown on the page.
USER_ERRORS = (
    BadRequest,
    HintsRefused,
    UploadRefused,
    PaletteError,
    UnreadableImage,
    ArchiveError,
    HintFileError,
)


async def on_error(request: Request, problem: Exception) -> Response:
    return error(str(problem))


def create_app(studio: Studio, hosts: set[str] | None = None) -> GuardMiddleware:
    """The ASGI app for `studio`; `hosts`: the Host headers answered (default: its own address)."""
    routes = [*ROUTES, Mount("/static", StaticFiles(directory=STATIC))]
    app = Starlette(routes=routes, exception_handlers={kind: on_error for kind in USER_ERRORS})
    app.state.studio = studio
    if hosts is None:
        hosts = allowed_hosts(studio.settings.host, studio.settings.port)
    return GuardMiddleware(app, studio.token, hosts)
