"""What keeps another site, or another machine, from driving the studio (a local server that
writes files).

- The Host header must name this server (127.0.0.1, localhost or [::1] at its port, the `host=`
  it was started on, or for 0.0.0.0 this machine's own names and addresses): a DNS-rebinding
  page reaches us under its own name, and is refused.
- An Origin header, sent by browsers with every cross-site and every POST request, must be this
  server's own: another site's form or fetch is refused before it does anything.
- Every API request carries the token printed with the address (header `X-Studio-Token`, or
  `token=` in the query for an image source), compared in constant time.
Static files (the page's own script and style, from the package) need the Host check only.
"""

from __future__ import annotations

import json
import secrets
import socket
from urllib.parse import parse_qs

TOKEN_HEADER = b"x-studio-token"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def allowed_hosts(host: str, port: int) -> set[str]:
    """The Host headers this server answers: its loopback names, the host it was started on, and,
    when that is every interface (0.0.0.0 or ::), this machine's own names and addresses."""
    names = {"127.0.0.1", "localhost", "::1", host}
    if host in ("0.0.0.0", "::"):
        names |= machine_names()
    spelt = {f"[{name}]" if ":" in name else name for name in names}
    return {f"{name}:{port}" for name in spelt} | (spelt if port == 80 else set())


def machine_names() -> set[str]:
    names = {socket.gethostname(), socket.getfqdn()}
    try:
        names |= {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        pass  # a machine whose own name does not resolve: its name is all there is
    return {name for name in names if name}


class GuardMiddleware:
    """ASGI middleware: Host and Origin checks on every request, the token on /api/ and the page."""

    def __init__(self, app, token: str, hosts: set[str]):
        self.app, self.token, self.hosts = app, token, {h.lower() for h in hosts}
        self.origins = {f"http://{h}" for h in self.hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get(b"host", "").lower()
        if host not in self.hosts:
            return await refuse(send, f"refused: Host {host!r} is not this studio's address")
        origin = headers.get(b"origin")
        if origin is not None and origin.lower() not in self.origins:
            return await refuse(send, f"refused: a request from another site ({origin})")
        path = scope["path"]
        if path == "/" or path.startswith("/api/"):
            given = headers.get(TOKEN_HEADER)
            if given is None:
                given = (
                    parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [""]
                )[0]
            if not secrets.compare_digest(given.encode(), self.token.encode()):
                return await refuse(
                    send,
                    "refused: wrong or missing token: open the address "
                    "mangacolor-studio printed, with its token",
                )
        return await self.app(scope, receive, send)


async def refuse(send, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
