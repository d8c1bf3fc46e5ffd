"""Fixtures: real nats-server processes on free loopback ports (see tests/nats_servers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.nats_servers import NatsCluster, NatsServer


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    with NatsServer() as server:
        yield server


@pytest.fixture
def nats_cluster() -> Iterator[NatsCluster]:
    with NatsCluster(3) as cluster:
        yield cluster


@pytest.fixture
def js_server() -> Iterator[NatsServer]:
    """One nats-server with JetStream on and a store directory kept across restart()."""
    with NatsServer(jetstream=True) as server:
        yield server


@pytest.fixture
def js_cluster() -> Iterator[NatsCluster]:
    """Three routed nats-servers with JetStream (R3 streams need all three to start)."""
    with NatsCluster(3, jetstream=True) as cluster:
        yield cluster
