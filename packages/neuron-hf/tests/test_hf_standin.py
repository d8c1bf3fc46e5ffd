"""The stand-in server itself: both APIs, HTTP hygiene, limits, shutdown, and its CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable

import httpx
import pytest
from cosmonapse_neuron_hf.standin import FAULTS, StandInServer

Eventually = Callable[[Callable[[], bool]], Awaitable[None]]


SEED_PROMPTS = ["the sun", "the moon", "the sea", "the wind"]


async def raw_exchange(server: StandInServer, request: bytes) -> bytes:
    """Send raw bytes on a fresh connection; return everything read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def test_seed_prompts_get_distinct_one_line_poems(standin: StandInServer) -> None:
    async with httpx.AsyncClient(base_url=standin.url) as client:
        answers = []
        for prompt in SEED_PROMPTS:
            r = await client.post(
                "/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": prompt}]},
            )
            assert r.status_code == 200
            answers.append(r.json()["choices"][0]["message"]["content"])
    assert len(set(answers)) == 4
    for answer in answers:
        assert "\n" not in answer and 5 <= len(answer.split()) <= 16, answer


async def test_chat_answer_shape(standin: StandInServer) -> None:
    async with httpx.AsyncClient(base_url=standin.url) as client:
        r = await client.post(
            "/v1/chat/completions",
            json={
                "model": "x/y",
                "messages": [{"role": "user", "content": "the sun"}],
                "max_tokens": 2,
            },
        )
    data = r.json()
    assert data["object"] == "chat.completion" and data["model"] == "x/y"
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    assert r.headers["content-type"] == "application/json"


async def test_generate_answer_shape(standin: StandInServer) -> None:
    async with httpx.AsyncClient(base_url=standin.url) as client:
        plain = await client.post("/generate", json={"inputs": "the sea"})
        full = await client.post(
            "/generate",
            json={"inputs": "the sea: ", "parameters": {"return_full_text": True, "details": True}},
        )
        zero = await client.post(
            "/generate", json={"inputs": "x", "parameters": {"temperature": 0}}
        )
    assert set(plain.json()) == {"generated_text"}
    assert full.json()["generated_text"].startswith("the sea: Salt")
    assert full.json()["details"]["finish_reason"] == "eos_token"
    assert zero.status_code == 422 and "strictly positive" in zero.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/health", None, 200),
        ("GET", "/info", None, 200),
        ("GET", "/nowhere", None, 404),
        ("GET", "/generate", None, 405),
        ("POST", "/health", b"{}", 405),
        ("POST", "/generate", b"{not json", 400),
        ("POST", "/generate", b"[1, 2]", 422),
        ("POST", "/generate", b'{"inputs": 3}', 422),
        ("POST", "/v1/chat/completions", b'{"messages": []}', 422),
        ("POST", "/v1/chat/completions", b'{"messages": [{"content": "x"}]}', 422),
        (
            "POST",
            "/v1/chat/completions",
            b'{"messages": [{"role": "user", "content": "x"}], "stream": true}',
            422,
        ),
        (
            "POST",
            "/v1/chat/completions",
            b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}',
            422,
        ),
        ("POST", "/_fault/teapot/generate", b'{"inputs": "x"}', 400),
    ],
)
async def test_routes_and_refusals(
    standin: StandInServer, method: str, path: str, body: bytes | None, status: int
) -> None:
    async with httpx.AsyncClient(base_url=standin.url) as client:
        r = await client.request(method, path, content=body)
        assert r.status_code == status
        r.json()  # every answer is JSON, errors included
        # The connection survives every refusal.
        assert (await client.get("/health")).status_code == 200
    assert standin.stats["connections"] == 1


async def test_fault_list_is_documented() -> None:
    assert {"<status>", "429-date", "slow", "drop", "malformed", "wrong-shape", "huge"} == set(
        FAULTS
    )


async def test_token_is_checked_only_when_configured() -> None:
    body = {"inputs": "the sun"}
    async with StandInServer(token="hf_abc") as server, httpx.AsyncClient() as client:
        url = server.url + "/generate"
        missing = await client.post(url, json=body)
        wrong = await client.post(url, json=body, headers={"Authorization": "Bearer hf_abd"})
        right = await client.post(url, json=body, headers={"Authorization": "Bearer hf_abc"})
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert [r.has_authorization for r in server.requests] == [False, True, True]
    assert all("hf_ab" not in repr(r) for r in server.requests)


async def test_declared_oversized_body_gets_413_and_close() -> None:
    async with StandInServer(max_body_bytes=1000) as server:
        head = (
            b"POST /generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 5000000\r\n\r\n"
        )
        answer = await raw_exchange(server, head)  # nothing of the body is sent
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b"connection: close" in answer.lower()
        # A chunked body that grows past the limit is cut off the same way.
        chunked = (
            b"POST /generate HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
            + b"400\r\n"
            + b"x" * 1024
            + b"\r\n"
        )
        assert (await raw_exchange(server, chunked)).startswith(b"HTTP/1.1 413 ")
        # The server goes on serving.
        async with httpx.AsyncClient() as client:
            assert (await client.get(server.url + "/health")).status_code == 200


@pytest.mark.parametrize(
    "garbage",
    [
        b"NONSENSE\r\n\r\n",
        # headers that never end: refused once they pass 16 KiB, not buffered on
        b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 20_000,
        b"GET / HTTP/1.1\r\nbad header line\r\n\r\n",
    ],
    ids=["request-line", "huge-header", "bad-header"],
)
async def test_malformed_http_gets_400_and_the_server_lives_on(
    standin: StandInServer, garbage: bytes
) -> None:
    answer = await raw_exchange(standin, garbage)
    assert answer.startswith((b"HTTP/1.1 400 ", b"HTTP/1.1 431 "))
    assert standin.stats["bad_requests"] == 1
    async with httpx.AsyncClient() as client:
        assert (await client.get(standin.url + "/health")).status_code == 200


async def test_peer_closing_mid_request_is_harmless(
    standin: StandInServer, eventually: Eventually
) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", standin.port)
    writer.write(b"POST /generate HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{")
    await writer.drain()
    writer.close()
    await eventually(lambda: standin.stats["open"] == 0)
    async with httpx.AsyncClient() as client:
        assert (await client.get(standin.url + "/health")).status_code == 200


async def test_connections_over_the_limit_get_503(eventually: Eventually) -> None:
    async with StandInServer(max_connections=1) as server:
        _, holder = await asyncio.open_connection("127.0.0.1", server.port)
        await eventually(lambda: server.stats["open"] == 1)
        answer = await raw_exchange(server, b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert server.stats["refused"] == 1
        holder.close()


async def test_aclose_ends_idle_and_busy_connections(eventually: Eventually) -> None:
    server = StandInServer(slow_s=600)
    await server.start()
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", server.port)
    client = httpx.AsyncClient()
    slow = asyncio.create_task(
        client.post(server.fault_url("slow") + "/generate", json={"inputs": "x"})
    )
    await eventually(lambda: server.stats["open"] == 2)
    await asyncio.wait_for(server.aclose(), 10)
    assert server.stats["open"] == 0
    assert await asyncio.wait_for(idle_reader.read(), 10) == b""  # closed by the server
    with pytest.raises(httpx.TransportError):
        await asyncio.wait_for(slow, 10)
    idle_writer.close()
    await client.aclose()
    await server.aclose()  # idempotent
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as again:
            await again.get(f"http://127.0.0.1:{server.port}/health")


async def test_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = StandInServer().url


async def test_command_line_prints_its_url_and_stops_on_sigint() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cosmonapse_neuron_hf.standin",
        "--port",
        "0",
        "--quiet",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as client:
            r = await client.post(url + "/generate", json={"inputs": "the wind"})
        assert r.json()["generated_text"].startswith("Unseen hands")
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
