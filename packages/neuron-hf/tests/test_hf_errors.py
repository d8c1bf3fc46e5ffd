"""Every failure path: HTTP status, transport and body problems -> NeuronError."""

from __future__ import annotations

import logging
import secrets
import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cosmonapse import NeuronError
from cosmonapse_neuron_hf import HuggingFaceNeuron
from cosmonapse_neuron_hf._failures import error_for_status, parse_retry_after
from cosmonapse_neuron_hf.standin import StandInServer

BOTH_APIS = pytest.mark.parametrize("use_chat_api", [True, False], ids=["chat", "generate"])


async def call(endpoint: str, use_chat_api: bool, **options: object) -> NeuronError:
    """Call a fresh Neuron once; return the NeuronError it must raise."""
    async with HuggingFaceNeuron(
        endpoint=endpoint,
        use_chat_api=use_chat_api,
        **options,  # type: ignore[arg-type]
    ) as neuron:
        with pytest.raises(NeuronError) as caught:
            await neuron({"prompt": "the sun"}, None)
    return caught.value


@BOTH_APIS
@pytest.mark.parametrize(
    ("fault", "code", "recoverable", "retry_after_s"),
    [
        ("429", "RATE_LIMITED", True, 3.0),
        ("500", "UPSTREAM_ERROR", True, None),
        ("502", "UPSTREAM_ERROR", True, None),
        ("503", "UPSTREAM_ERROR", True, 3.0),
        ("408", "UPSTREAM_TIMEOUT", True, None),
        ("400", "UPSTREAM_REJECTED", False, None),
        ("404", "UPSTREAM_REJECTED", False, None),
        ("422", "UPSTREAM_REJECTED", False, None),
    ],
)
async def test_status_maps_to_code(
    standin: StandInServer,
    use_chat_api: bool,
    fault: str,
    code: str,
    recoverable: bool,
    retry_after_s: float | None,
) -> None:
    err = await call(standin.fault_url(fault), use_chat_api)
    assert (err.code, err.recoverable, err.retry_after_s) == (code, recoverable, retry_after_s)
    assert f"HTTP {fault}" in str(err)
    # The server's own reason, from either dialect (OpenAI-style or TGI-style body).
    assert f"stand-in fault {fault}" in str(err)


@BOTH_APIS
async def test_retry_after_as_an_http_date(standin: StandInServer, use_chat_api: bool) -> None:
    err = await call(standin.fault_url("429-date"), use_chat_api)
    assert err.code == "RATE_LIMITED" and err.recoverable
    # The date is 30 s ahead when sent, at one-second resolution.
    assert err.retry_after_s is not None and 0 < err.retry_after_s <= 30


@BOTH_APIS
@pytest.mark.parametrize("status", ["401", "403"])
async def test_refused_token_is_not_recoverable_and_never_shown(
    standin: StandInServer,
    use_chat_api: bool,
    status: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "hf_" + secrets.token_hex(16)
    caplog.set_level(logging.DEBUG)
    async with HuggingFaceNeuron(
        endpoint=standin.fault_url(status), use_chat_api=use_chat_api, api_key=token
    ) as neuron:
        with pytest.raises(NeuronError) as caught:
            await neuron({"prompt": "the sun"}, None)
        shown = [repr(neuron), str(neuron)]
    err = caught.value
    assert (err.code, err.recoverable, err.retry_after_s) == ("AUTH_REFUSED", False, None)
    assert "refused the token" in str(err) and f"HTTP {status}" in str(err)
    shown += [str(err), repr(err), repr(err.args), str(err.__cause__), caplog.text]
    assert all(token not in text for text in shown)
    assert standin.requests[-1].has_authorization


@BOTH_APIS
async def test_wrong_and_missing_tokens(use_chat_api: bool) -> None:
    async with StandInServer(token="hf_right") as server:
        wrong = await call(server.url, use_chat_api, api_key="hf_wrong_token_value")
        missing = await call(server.url, use_chat_api)
    assert wrong.code == missing.code == "AUTH_REFUSED"
    assert "refused the token" in str(wrong) and "hf_wrong_token_value" not in str(wrong)
    assert "requires a token" in str(missing) and "HF_TOKEN" in str(missing)
    assert not missing.recoverable


@BOTH_APIS
async def test_timeout_is_recoverable(use_chat_api: bool) -> None:
    async with StandInServer(slow_s=60) as server:
        err = await call(server.fault_url("slow"), use_chat_api, timeout_s=0.3)
    assert (err.code, err.recoverable) == ("UPSTREAM_TIMEOUT", True)
    assert "within 0.3 s" in str(err)


@BOTH_APIS
async def test_dropped_connection_is_recoverable(
    standin: StandInServer, use_chat_api: bool
) -> None:
    err = await call(standin.fault_url("drop"), use_chat_api)
    assert (err.code, err.recoverable) == ("UPSTREAM_UNREACHABLE", True)
    assert isinstance(err.__cause__, httpx.TransportError)


@BOTH_APIS
async def test_refused_connection_is_recoverable(use_chat_api: bool) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    err = await call(f"http://127.0.0.1:{port}", use_chat_api)
    assert (err.code, err.recoverable) == ("UPSTREAM_UNREACHABLE", True)
    assert f"127.0.0.1:{port}" in str(err)


@BOTH_APIS
@pytest.mark.parametrize(
    ("fault", "text"),
    [
        ("malformed", "not JSON"),
        ("wrong-shape", "answered HTTP 200 but"),
    ],
)
async def test_unusable_body_is_not_recoverable(
    standin: StandInServer, use_chat_api: bool, fault: str, text: str
) -> None:
    err = await call(standin.fault_url(fault), use_chat_api)
    assert (err.code, err.recoverable) == ("BAD_RESPONSE", False)
    assert text in str(err)


@BOTH_APIS
async def test_oversized_body_is_refused(standin: StandInServer, use_chat_api: bool) -> None:
    err = await call(standin.fault_url("huge"), use_chat_api, max_response_bytes=64 * 1024)
    assert (err.code, err.recoverable) == ("BAD_RESPONSE", False)
    assert "more than 65536 bytes" in str(err)
    # The default limit (8 MiB) takes the same body.
    async with HuggingFaceNeuron(
        endpoint=standin.fault_url("huge"), use_chat_api=use_chat_api
    ) as neuron:
        out = await neuron({"prompt": "the sun"}, None)
    assert len(out["response"]) > 1_000_000


async def test_the_fault_header_works_too(standin: StandInServer) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            standin.url + "/generate", json={"inputs": "x"}, headers={"X-StandIn-Fault": "503"}
        )
    assert answer.status_code == 503 and answer.headers["retry-after"] == "3"


def test_long_server_reasons_are_truncated_to_one_line() -> None:
    body = b'{"error": "' + b"word\\n " * 500 + b'"}'
    err = error_for_status(404, httpx.Headers(), body, target="http://h/generate", secret=None)
    assert "\n" not in str(err)
    assert len(str(err)) < 400 and str(err).endswith("\u2026")


def test_a_token_echoed_by_the_server_is_scrubbed() -> None:
    token = "hf_" + secrets.token_hex(8)
    for status in (401, 404, 429, 500):
        body = f'{{"error": {{"message": "bad header Bearer {token}"}}}}'.encode()
        err = error_for_status(status, httpx.Headers(), body, target="http://h/x", secret=token)
        assert token not in str(err) and "[redacted]" in str(err)


def test_plain_text_and_fastapi_error_bodies() -> None:
    text = error_for_status(400, httpx.Headers(), b"plain words", target="t", secret=None)
    fastapi = error_for_status(422, httpx.Headers(), b'{"detail": "bad"}', target="t", secret=None)
    assert str(text).endswith("plain words") and str(fastapi).endswith(": bad")


def test_503_estimated_time_is_a_hint_when_no_header() -> None:
    body = b'{"error": "Model is loading", "estimated_time": 20.5}'
    err = error_for_status(503, httpx.Headers(), body, target="t", secret=None)
    assert err.retry_after_s == 20.5
    with_header = error_for_status(
        503, httpx.Headers({"Retry-After": "2"}), body, target="t", secret=None
    )
    assert with_header.retry_after_s == 2.0


def test_redirects_are_not_followed_and_are_reported() -> None:
    err = error_for_status(
        302, httpx.Headers({"location": "https://x/login"}), b"", target="t", secret=None
    )
    assert (err.code, err.recoverable) == ("BAD_RESPONSE", False)
    assert "302 to https://x/login" in str(err)


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    in_90_s = (now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(in_90_s, now=now) == 90.0
    assert parse_retry_after("Wed, 01 Jan 2020 00:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("99999999") == 3600.0
    for junk in (None, "", "soon", "-1", "nan", "inf"):
        assert parse_retry_after(junk) is None, junk
