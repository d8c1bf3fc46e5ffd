"""The page's static files, read once from the installed package and served from memory.

Serving from a dictionary built at start-up means a request path can only ever name one
of the files shipped in ``cosmonapse_prism/static``: there is no path to traverse.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

__all__ = ["Asset", "load_assets"]

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
}
_MAX_FILES = 256  # a guard against a broken install, not a real limit


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file: its bytes, media type and a strong ETag."""

    body: bytes
    media_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file under the package's ``static`` folder, keyed by its path relative to it
    (``"index.html"``, ``"js/main.js"``). Files with unknown extensions are skipped.

    Raises FileNotFoundError when the package was installed without its static files.
    """
    root = resources.files("cosmonapse_prism") / "static"
    out: dict[str, Asset] = {}
    _walk(root, "", out)
    if "index.html" not in out:
        raise FileNotFoundError(
            "cosmonapse_prism/static/index.html is missing: reinstall cosmonapse-prism"
        )
    return out


def _walk(folder: Traversable, prefix: str, out: dict[str, Asset]) -> None:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        name = entry.name
        if name.startswith("."):
            continue
        if entry.is_dir():
            _walk(entry, f"{prefix}{name}/", out)
            continue
        suffix = name[name.rfind(".") :] if "." in name else ""
        media_type = _TYPES.get(suffix)
        if media_type is None or len(out) >= _MAX_FILES:
            continue
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        out[prefix + name] = Asset(body, media_type, etag)
