"""examples/02-orchestrator-api: the ASGI edge served by uvicorn, asked over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.examples.conftest import bus_url
from tests.examples.runner import ExampleProcesses, free_port


@pytest.mark.parametrize("transport", ["memory", "cosmo", "nats"])
def test_http_requests_become_tasks(transport: str, procs: ExampleProcesses) -> None:
    env = {"PORT": str(free_port())}
    if transport != "memory":
        env["SYNAPSE_URL"] = bus_url(transport, procs)
    app = procs.start("02-orchestrator-api", "app.py", env=env)
    base = app.wait_for(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")[0].group(1)

    with httpx.Client(base_url=base, timeout=10) as client:
        answer = client.post("/ask", json={"question": "what is an Axon?"})
        assert answer.status_code == 200
        body = answer.json()
        assert body["answer"] == "An Axon wraps one Neuron and turns what it returns into Signals."
        assert body["term"] == "axon"
        assert body["answered_by"] == "glossary"
        assert body["trace_id"].startswith("trc_")

        unknown = client.post("/ask", json={"question": "and a cortex?"})
        assert unknown.status_code == 200
        assert unknown.json()["term"] is None

        bad = client.post("/ask", content=b"{}")
        assert bad.status_code == 400
        assert bad.json()["error"] == "BAD_REQUEST"
        assert client.post("/ask", content=b"x" * (64 * 1024 + 1)).status_code == 413
        assert client.get("/ask").status_code == 405
        assert client.get("/nowhere").status_code == 404
        assert client.get("/health").json() == {"ok": True}

    app.stop()
    assert "Application shutdown complete." in app.output


def test_no_bus_means_a_clear_startup_failure(procs: ExampleProcesses) -> None:
    nowhere = f"cosmo://127.0.0.1:{free_port()}"  # nothing listens there
    app = procs.start(
        "02-orchestrator-api", "app.py", env={"PORT": str(free_port()), "SYNAPSE_URL": nowhere}
    )
    assert app.wait_exit(30) != 0
    assert f"nothing is listening at {nowhere}" in app.output
    assert "Application startup failed. Exiting." in app.output
