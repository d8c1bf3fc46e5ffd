"""Fixtures for the example tests: a process group that is always cleaned up, and the
bus URL of each transport an example can run on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.examples.runner import ExampleProcesses


@pytest.fixture
def procs() -> Iterator[ExampleProcesses]:
    with ExampleProcesses() as group:
        yield group


def bus_url(transport: str, procs: ExampleProcesses, namespace: str | None = None) -> str:
    """A fresh bus of ``transport`` for one test: ``memory://`` needs nothing, ``cosmo``
    starts ``cosmo synapse start memory`` on a free port, ``nats`` a real nats-server."""
    if transport == "memory":
        return "memory://"
    if transport == "cosmo":
        return procs.dev_synapse(namespace)
    if transport == "nats":
        return procs.nats_server()
    raise ValueError(f"unknown transport {transport!r}")
