"""Safe by default, checked over real HTTP: security headers, the Host and Origin rules,
no way to point Prism elsewhere, and page code that never writes markup."""

from __future__ import annotations

import asyncio
import re
from importlib import resources
from urllib.parse import urlsplit

import pytest

NAMESPACE = "prism-test"  # as in conftest.py


def _port(server) -> int:
    return urlsplit(server.url).port


async def test_every_response_carries_security_headers(start_prism, http):
    server = await start_prism()
    for path in ("", "static/js/main.js", "static/prism.css", "api/info", "static/missing.js"):
        response = await http.get(server.url + path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["referrer-policy"] == "no-referrer", path


async def test_page_and_assets_are_served_with_their_types(start_prism, http):
    server = await start_prism()
    page = await http.get(server.url)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    script = await http.get(server.url + "static/js/main.js")
    assert script.headers["content-type"].startswith("text/javascript")
    again = await http.get(
        server.url + "static/js/main.js", headers={"if-none-match": script.headers["etag"]}
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    "path",
    [
        "static/../server.py",
        "static/%2e%2e/server.py",
        "static/..%2fserver.py",
        "static/js/../../hub.py",
        "static//etc/passwd",
        "static/nothing.js",
    ],
)
async def test_static_route_serves_only_shipped_files(start_prism, path):
    server = await start_prism()
    # A raw request line: httpx would normalise the dots away before sending.
    status, body = await _raw_get(_port(server), "/" + path, host=f"127.0.0.1:{_port(server)}")
    assert status == 404
    assert b"import" not in body and b"root:" not in body


async def test_no_query_parameter_changes_what_is_watched(start_prism, open_stream, http, synapse):
    server = await start_prism()
    info = await http.get(
        server.url + "api/info", params={"url": "cosmo://10.0.0.1:7070", "namespace": "other"}
    )
    assert info.json()["namespace"] == NAMESPACE
    assert info.json()["synapse"] == synapse.url
    async with open_stream(
        server, path="events?url=nats://10.0.0.1:4222&namespace=other&synapse=x"
    ) as (response, reader):
        assert response.status_code == 200
        event, hello = await reader.next_event()
    assert event == "hello"
    assert hello["namespace"] == NAMESPACE
    assert hello["synapse"] == synapse.url
    assert synapse.stats["subscriptions"] == 1  # still the one subscription, nothing new


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "null",
        "http://127.0.0.1:1",
        "http://localhost.evil.example:{port}",
        "http://127.0.0.1:{port}.evil.example",
        "file://",
    ],
)
async def test_event_stream_refuses_a_foreign_origin(start_prism, http, origin):
    server = await start_prism()
    headers = {"origin": origin.format(port=_port(server))}
    response = await http.get(server.url + "events", headers=headers)
    assert response.status_code == 403
    assert "Origin" in response.text
    assert server.hub.viewers == 0


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
async def test_event_stream_accepts_its_own_origin(start_prism, open_stream, name):
    server = await start_prism()
    origin = f"http://{name}:{_port(server)}"
    async with open_stream(server, headers={"origin": origin}) as (response, reader):
        assert response.status_code == 200
        event, _ = await reader.next_event()
        assert event == "hello"


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
async def test_event_stream_refuses_cross_site_fetches(start_prism, http, site):
    server = await start_prism()
    response = await http.get(server.url + "events", headers={"sec-fetch-site": site})
    assert response.status_code == 403
    assert server.hub.viewers == 0


async def test_websocket_upgrade_with_foreign_origin_is_refused(start_prism):
    server = await start_prism()
    port = _port(server)
    status, _ = await _raw_get(
        port,
        "/events",
        host=f"127.0.0.1:{port}",
        extra=(
            "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://evil.example\r\n"
        ),
    )
    assert status == 403
    assert server.hub.viewers == 0


@pytest.mark.parametrize("path", ["", "events", "api/info"])
async def test_unexpected_host_header_is_refused(start_prism, path):
    # DNS rebinding: a hostile name resolving to 127.0.0.1 arrives with its own Host.
    server = await start_prism()
    port = _port(server)
    status, body = await _raw_get(port, "/" + path, host=f"evil.example:{port}")
    assert status == 403
    assert b"Host" in body
    assert server.hub.viewers == 0


async def test_binds_loopback_only(start_prism):
    server = await start_prism()
    assert server.url.startswith("http://127.0.0.1:")
    sock = server._socket
    assert sock is not None
    assert sock.getsockname()[0] == "127.0.0.1"


def test_page_has_no_inline_script_or_markup_writes():
    static = resources.files("cosmonapse_prism") / "static"
    html = (static / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html), "inline script in index.html"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler in index.html"
    assert not re.search(r"\sstyle=", html), "inline style attributes break the CSP"
    forbidden = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|"
        r"createContextualFragment|DOMParser|srcdoc"
    )
    js_dir = static / "js"
    files = [f for f in js_dir.iterdir() if f.name.endswith(".js")]
    assert files
    for f in files:
        hits = forbidden.findall(f.read_text())
        assert not hits, f"{f.name} uses {hits}"


async def _raw_get(port: int, target: str, *, host: str, extra: str = "") -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        connection = "" if "Connection:" in extra else "Connection: close\r\n"
        request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}{connection}\r\n"
        writer.write(request.encode())
        await writer.drain()
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            body = await reader.readexactly(int(length.group(1))) if length else b""
    finally:
        writer.close()
    status = int(head.split(b" ", 2)[1])
    return status, body
