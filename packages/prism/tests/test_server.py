"""PrismServer and watch(): lifecycle, ports, and what they own."""

from __future__ import annotations

import socket

import cosmonapse_prism as prism
import httpx
import pytest
from cosmonapse import MemorySynapse


async def test_watch_as_context_manager(synapse):
    async with prism.watch(synapse, "demo", port=0) as view:
        assert view.running
        assert view.url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(timeout=10) as http:
            info = (await http.get(view.url + "api/info")).json()
        assert info["namespace"] == "demo"
        assert info["version"] == prism.__version__
    assert not view.running
    assert not synapse.closed
    assert synapse.stats["subscriptions"] == 0


async def test_watch_awaited_then_closed_twice(synapse):
    view = await prism.watch(synapse, "demo", port=0)
    assert "running" in repr(view)
    await view.aclose()
    await view.aclose()
    assert not view.running
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(timeout=5) as http:
            await http.get(view.url)


async def test_taken_port_fails_with_a_clear_error(synapse):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(prism.PrismStartError, match=f"127.0.0.1:{port}.*--port"):
            await prism.watch(synapse, "demo", port=port)
    assert synapse.stats["subscriptions"] == 0  # the failed start cleaned up


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_only_loopback_hosts(host):
    with pytest.raises(ValueError, match="loopback"):
        prism.PrismServer(MemorySynapse(), "demo", host=host)


def test_url_before_start_is_an_error():
    server = prism.PrismServer(MemorySynapse(), "demo", port=0)
    with pytest.raises(RuntimeError):
        server.url  # noqa: B018


async def test_server_closes_a_synapse_it_owns():
    bus = MemorySynapse()
    server = await prism.PrismServer(bus, "demo", port=0, owns_synapse=True)
    await server.aclose()
    assert bus.closed


async def test_ipv6_loopback(synapse):
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.fail("this machine has no IPv6 loopback; Prism's ::1 support cannot be checked")
    async with prism.watch(synapse, "demo", port=0, host="::1") as view:
        assert view.url.startswith("http://[::1]:")
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(view.url + "api/info")
        assert response.status_code == 200
