"""Fixtures: a local OTLP/HTTP receiver (POST /v1/traces, protobuf), as a collector
would run it, and a dev synapse in process."""

from __future__ import annotations

import gzip
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass
class Received:
    """One span as a collector decoded it, with its process's service.name."""

    service: str
    name: str
    kind: int
    trace_id: int
    span_id: int
    parent_span_id: int | None
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    links: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)


def _value(v: Any) -> Any:
    which = v.WhichOneof("value")
    return getattr(v, which) if which else None


def _attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


class OtlpReceiver:
    """POST /v1/traces -> decoded spans in :attr:`spans` (thread-safe)."""

    def __init__(self) -> None:
        self.spans: list[Received] = []
        self.requests = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver._take(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _take(self, request: ExportTraceServiceRequest) -> None:
        found: list[Received] = []
        for rs in request.resource_spans:
            service = str(_attrs(rs.resource.attributes).get("service.name"))
            for ss in rs.scope_spans:
                for s in ss.spans:
                    found.append(
                        Received(
                            service=service,
                            name=s.name,
                            kind=s.kind,
                            trace_id=int.from_bytes(s.trace_id, "big"),
                            span_id=int.from_bytes(s.span_id, "big"),
                            parent_span_id=(
                                int.from_bytes(s.parent_span_id, "big")
                                if s.parent_span_id
                                else None
                            ),
                            start_ns=s.start_time_unix_nano,
                            end_ns=s.end_time_unix_nano,
                            status_code=s.status.code,
                            status_message=s.status.message,
                            attributes=_attrs(s.attributes),
                            events=[(e.name, _attrs(e.attributes)) for e in s.events],
                            links=[
                                (
                                    int.from_bytes(link.trace_id, "big"),
                                    int.from_bytes(link.span_id, "big"),
                                    _attrs(link.attributes),
                                )
                                for link in s.links
                            ],
                        )
                    )
        with self._lock:
            self.requests += 1
            self.spans.extend(found)

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.spans)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture(params=["dev", "nats"])
async def bus_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The URL of a real broker: a dev synapse in process, or a nats-server process."""
    if request.param == "nats":
        from tests.nats_servers import NatsServer

        with NatsServer() as nats:
            yield nats.url
        return
    from cosmonapse_cli.server import DevSynapseServer

    server = DevSynapseServer("127.0.0.1", port=0)
    await server.start()
    try:
        yield str(server.url)
    finally:
        await server.close()
