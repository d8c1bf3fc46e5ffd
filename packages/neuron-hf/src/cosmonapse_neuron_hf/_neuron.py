"""The Hugging Face Neuron: one text-generation endpoint behind ``async (input, context)``."""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import os
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, Self

import cosmonapse
import httpx
from cosmonapse import CosmonapseDeprecationWarning, NeuronError

from ._failures import (
    UPSTREAM_TIMEOUT,
    UPSTREAM_UNREACHABLE,
    bad_input,
    bad_response,
    error_for_status,
    scrub,
)
from ._input import (
    Settings,
    check_positive_int,
    check_stop,
    check_system,
    check_temperature,
    parse_input,
)
from ._wire import chat_body, generate_body, parse_chat, parse_generate

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "DEFAULT_TIMEOUT_S", "HuggingFaceNeuron", "create_neuron"]

DEFAULT_TIMEOUT_S: Final = 120.0
"""Seconds one call may take, connecting included, unless ``timeout_s`` says otherwise."""

DEFAULT_MAX_RESPONSE_BYTES: Final = 8 * 1024 * 1024
"""A successful body larger than this is refused (``BAD_RESPONSE``) instead of buffered."""

_ERROR_BODY_BYTES: Final = 64 * 1024  # enough for any server's reason; the rest is dropped
_PREVIEW_CHARS: Final = 120
_USER_AGENT: Final = "cosmonapse-neuron-hf/0.2.0"
_TOKEN_ENV: Final = "HF_TOKEN"

_PHASES: Final[dict[type[httpx.TimeoutException], str]] = {
    httpx.ConnectTimeout: "connecting",
    httpx.WriteTimeout: "sending the request",
    httpx.ReadTimeout: "waiting for the answer",
    httpx.PoolTimeout: "waiting for a free connection",
}


_INTERNAL: Final = (
    os.path.dirname(os.path.abspath(cosmonapse.__file__ or "")) + os.sep,
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
)


def _renamed_timeout(timeout_s: float, timeout: float | None) -> float:
    """``timeout_s``, or the deprecated ``timeout=`` (warned about at the user's line: the
    first frame outside this package and the SDK, so ``Neuron(source=...,
    timeout=...)`` points at the caller of ``Neuron``)."""
    if timeout is None:
        return timeout_s
    if timeout_s != DEFAULT_TIMEOUT_S:
        raise TypeError("pass timeout_s or timeout, not both")
    frame, level = inspect.currentframe(), 1
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    warnings.warn(
        f"HuggingFaceNeuron(timeout=...) is deprecated; pass timeout_s={timeout!r} (seconds)",
        CosmonapseDeprecationWarning,
        stacklevel=level,
    )
    return timeout


class _Secret:
    """Holds the token so that no repr, log line or traceback local can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "_Secret('[redacted]')"

    __str__ = __repr__


def _api_url(endpoint: str, use_chat_api: bool) -> httpx.URL:
    try:
        url = httpx.URL(endpoint)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"endpoint is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("endpoint must be an http:// or https:// URL with a host")
    path = url.path.rstrip("/")
    # A full API URL is taken as given; a base that already ends in /v1 is not doubled.
    if use_chat_api:
        if not path.endswith("/chat/completions"):
            path += "/chat/completions" if path.endswith("/v1") else "/v1/chat/completions"
    elif not path.endswith("/generate"):
        path += "/generate"
    return url.copy_with(path=path)


def _shown(url: httpx.URL) -> str:
    """``url`` as it may appear in messages: no credentials, no query string."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"


class HuggingFaceNeuron:
    """A Neuron that answers with a Hugging Face (or compatible) text-generation server.

    ``use_chat_api=True`` posts OpenAI-style chat to ``{endpoint}/v1/chat/completions`` (the
    HF router, Inference Endpoints, TGI, vLLM); otherwise it posts to TGI's
    ``{endpoint}/generate``. Call it as ``await neuron({"prompt": "..."}, context)`` or with
    ``{"messages": [...]}``; it returns ``{"response": text, "meta": {...}}``.

    Options (all keyword-only):

    * ``endpoint``: base URL of the server; a full ``.../v1/chat/completions`` or
      ``.../generate`` URL is used as given.
    * ``model``: model id sent to the chat API (the HF router and vLLM need it); reported in
      ``meta.model``.
    * ``api_key``: bearer token; when ``None`` or empty, ``HF_TOKEN`` from the environment
      (read once, here); with neither, requests carry no ``Authorization`` header.
    * ``max_new_tokens``, ``temperature``, ``stop``, ``system``: defaults for every call, each
      overridable per call by the same key in the input.
    * ``timeout_s``: seconds allowed for one whole call, connection included
      (``timeout=`` is its deprecated spelling).
    * ``max_connections``: size of the connection pool shared by concurrent calls.
    * ``max_response_bytes``: the largest successful body accepted.
    * ``source``: accepted and ignored, so ``Neuron(source=...)`` can pass it through.

    Raises ``ValueError``/``TypeError`` here for invalid options. Calls raise
    :class:`cosmonapse.NeuronError` with the codes listed in the package README.

    The HTTP client is created on first use and shared by concurrent calls; :meth:`aclose`
    closes it (the hosting Dendrite calls it on stop). A call after :meth:`aclose` opens a
    new client, so a stopped Dendrite can be started again with the same Neuron.
    """

    def __init__(
        self,
        *,
        endpoint: str,
        model: str | None = None,
        api_key: str | None = None,
        use_chat_api: bool = False,
        max_new_tokens: int = 512,
        temperature: float | None = None,
        system: str | None = None,
        stop: str | list[str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_connections: int = 16,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        source: str | None = None,
        timeout: float | None = None,
    ) -> None:
        if not isinstance(endpoint, str):
            raise TypeError(f"endpoint must be a string, not {type(endpoint).__name__}")
        if model is not None and (not isinstance(model, str) or not model):
            raise TypeError("model must be a non-empty string or None")
        if api_key is not None and not isinstance(api_key, str):
            raise TypeError("api_key must be a string or None")
        timeout_s = _renamed_timeout(timeout_s, timeout)
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float):
            raise TypeError(f"timeout_s must be a number, not {type(timeout_s).__name__}")
        if not math.isfinite(timeout_s) or timeout_s <= 0:
            raise ValueError(f"timeout_s must be a positive number of seconds, not {timeout_s}")
        self._use_chat_api = bool(use_chat_api)
        self._url = _api_url(endpoint, self._use_chat_api)
        self._target = _shown(self._url)
        self._model = model
        token = api_key or os.environ.get(_TOKEN_ENV) or None
        self._secret = _Secret(token) if token else None
        self._defaults = Settings(
            max_new_tokens=check_positive_int(max_new_tokens, "max_new_tokens"),
            temperature=check_temperature(temperature),
            stop=check_stop(stop),
            system=check_system(system),
        )
        self._timeout = float(timeout_s)
        self._max_connections = check_positive_int(max_connections, "max_connections")
        self._max_response_bytes = check_positive_int(max_response_bytes, "max_response_bytes")
        self._client: httpx.AsyncClient | None = None

    @property
    def url(self) -> str:
        """The URL every call posts to, without credentials or query string."""
        return self._target

    @property
    def model(self) -> str | None:
        """The configured model id."""
        return self._model

    @property
    def use_chat_api(self) -> bool:
        """``True`` for the OpenAI-style chat API, ``False`` for TGI's ``/generate``."""
        return self._use_chat_api

    @property
    def has_token(self) -> bool:
        """Whether requests carry an ``Authorization: Bearer`` header."""
        return self._secret is not None

    def __repr__(self) -> str:
        api = "chat" if self._use_chat_api else "generate"
        token = "set" if self._secret else "none"
        return (
            f"HuggingFaceNeuron(url={self._target!r}, model={self._model!r}, "
            f"api={api}, token={token})"
        )

    async def __call__(self, input: Mapping[str, Any], context: object = None) -> dict[str, Any]:
        """Generate one answer.

        ``context`` is accepted for the Neuron signature and not used. Returns
        ``{"response": str, "meta": {"model", "finish_reason", "usage" (when reported)}}``.
        Raises :class:`cosmonapse.NeuronError`; its ``recoverable`` flag says whether a retry
        may help, and ``retry_after_s`` carries the server's ``Retry-After``.
        """
        request = parse_input(input, self._defaults)
        body = chat_body(self._model, request) if self._use_chat_api else generate_body(request)
        try:
            content = json.dumps(body, ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise bad_input(f"input cannot be sent as JSON: {exc}") from None
        data = await self._post(content)
        if self._use_chat_api:
            return parse_chat(data, model=self._model, target=self._target)
        return parse_generate(data, model=self._model, target=self._target)

    async def aclose(self) -> None:
        """Close the HTTP client and its connections. Idempotent.

        Calls still in flight on the old client fail; later calls open a new client.
        """
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _http(self) -> httpx.AsyncClient:
        # Creation is synchronous, so concurrent first calls cannot build two clients.
        client = self._client
        if client is None or client.is_closed:
            headers = {"user-agent": _USER_AGENT, "accept": "application/json"}
            if self._secret is not None:
                headers["authorization"] = f"Bearer {self._secret.reveal()}"
            client = httpx.AsyncClient(
                headers=headers,
                timeout=httpx.Timeout(self._timeout),
                limits=httpx.Limits(
                    max_connections=self._max_connections,
                    max_keepalive_connections=self._max_connections,
                ),
                follow_redirects=False,
            )
            self._client = client
        return client

    async def _post(self, content: bytes) -> object:
        secret = self._secret.reveal() if self._secret is not None else None
        client = self._http()
        try:
            # httpx times each phase; this bounds the whole call, slow trickles included.
            async with asyncio.timeout(self._timeout):
                raw = await self._exchange(client, content, secret)
        except TimeoutError as exc:  # only asyncio.timeout: httpx has its own exceptions
            raise NeuronError(
                f"no complete answer from {self._target} within {self._timeout:g} s",
                code=UPSTREAM_TIMEOUT,
                recoverable=True,
            ) from exc
        except httpx.TimeoutException as exc:
            raise NeuronError(
                f"no answer from {self._target} within {self._timeout:g} s "
                f"({_PHASES.get(type(exc), 'timed out')})",
                code=UPSTREAM_TIMEOUT,
                recoverable=True,
            ) from exc
        except httpx.DecodingError as exc:
            raise bad_response(
                f"{self._target} sent a body that cannot be decoded: {exc}", secret=secret
            ) from exc
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise NeuronError(
                scrub(f"cannot reach {self._target}: {reason}", secret),
                code=UPSTREAM_UNREACHABLE,
                recoverable=True,
            ) from exc
        try:
            return json.loads(raw)
        except ValueError:
            preview = " ".join(raw[:_PREVIEW_CHARS].decode("utf-8", "replace").split())
            raise bad_response(
                f"{self._target} answered HTTP 200 with a body that is not JSON: {preview!r}",
                secret=secret,
            ) from None

    async def _exchange(
        self, client: httpx.AsyncClient, content: bytes, secret: str | None
    ) -> bytes:
        headers = {"content-type": "application/json"}
        async with client.stream("POST", self._url, content=content, headers=headers) as response:
            status = response.status_code
            if 200 <= status <= 299:
                raw, complete = await _read_at_most(response, self._max_response_bytes)
                if not complete:
                    raise bad_response(
                        f"{self._target} answered more than {self._max_response_bytes} bytes"
                    )
                return raw
            head, _ = await _read_at_most(response, _ERROR_BODY_BYTES)
            raise error_for_status(
                status, response.headers, head, target=self._target, secret=secret
            )


async def _read_at_most(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the (decoded) body, and whether that was all of it."""
    buf = bytearray()
    async for chunk in response.aiter_bytes():
        room = limit - len(buf)
        if len(chunk) > room:
            buf += chunk[:room]
            return bytes(buf), False
        buf += chunk
    return bytes(buf), True


def create_neuron(
    *,
    endpoint: str,
    model: str | None = None,
    api_key: str | None = None,
    use_chat_api: bool = False,
    max_new_tokens: int = 512,
    temperature: float | None = None,
    system: str | None = None,
    stop: str | list[str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_connections: int = 16,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    source: str | None = None,
    timeout: float | None = None,
) -> HuggingFaceNeuron:
    """The factory behind ``cosmonapse.Neuron(source="huggingface" | "hf", ...)``.

    Takes the options of :class:`HuggingFaceNeuron` and returns one.
    """
    return HuggingFaceNeuron(
        endpoint=endpoint,
        model=model,
        api_key=api_key,
        use_chat_api=use_chat_api,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        system=system,
        stop=stop,
        timeout_s=_renamed_timeout(timeout_s, timeout),
        max_connections=max_connections,
        max_response_bytes=max_response_bytes,
        source=source,
    )
