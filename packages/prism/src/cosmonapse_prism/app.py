"""The ASGI application: the page, its static files, the event stream and a JSON info
endpoint, all behind :class:`~cosmonapse_prism.security.GuardMiddleware`.

Routes:

``GET /``               the page (``index.html``)
``GET /static/{path}``  a file shipped in the package (anything else is 404)
``GET /events``         the Server-Sent Events stream (:mod:`cosmonapse_prism.sse`)
``GET /api/info``       namespace, synapse URL, version and the hub's counters

No route takes a parameter that changes what is watched.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ._version import __version__
from .assets import Asset, load_assets
from .hub import SignalHub
from .security import GuardMiddleware
from .sse import EventStream

__all__ = ["EVENTS_PATH", "create_app"]

EVENTS_PATH = "/events"


def create_app(
    hub: SignalHub,
    *,
    extra_hosts: Iterable[str] = (),
    batch_interval_s: float = 0.05,
    stats_interval_s: float = 1.0,
) -> Starlette:
    """Build the Prism ASGI app serving ``hub``.

    The hub must be started (and later closed) by the caller; the app never starts,
    stops or replaces it. ``extra_hosts`` adds accepted ``Host`` names besides the
    loopback ones. Raises FileNotFoundError when the static files are missing.
    """
    assets = load_assets()
    stream = EventStream(
        hub,
        version=__version__,
        batch_interval_s=batch_interval_s,
        stats_interval_s=stats_interval_s,
    )

    def asset_response(request: Request, asset: Asset) -> Response:
        headers = {"etag": asset.etag, "cache-control": "no-cache"}
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    async def index(request: Request) -> Response:
        return asset_response(request, assets["index.html"])

    async def static(request: Request) -> Response:
        asset = assets.get(request.path_params["path"])
        if asset is None:
            return PlainTextResponse("404 not found\n", status_code=404)
        return asset_response(request, asset)

    async def info(request: Request) -> Response:
        return JSONResponse(
            {
                "namespace": hub.namespace,
                "synapse": hub.synapse.url,
                "version": __version__,
                "stats": hub.stats(),
            },
            headers={"cache-control": "no-store"},
        )

    routes = [
        Route("/", index, methods=["GET", "HEAD"]),
        Route("/static/{path:path}", static, methods=["GET", "HEAD"]),
        Route("/api/info", info, methods=["GET", "HEAD"]),
        Route(EVENTS_PATH, stream),
    ]
    middleware = [
        Middleware(GuardMiddleware, stream_paths=[EVENTS_PATH], extra_hosts=tuple(extra_hosts))
    ]
    return Starlette(routes=routes, middleware=middleware)
