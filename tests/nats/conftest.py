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
