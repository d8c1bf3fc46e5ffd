"""The ``cosmo`` commands as a person runs them: real processes, a real dev synapse, real
Signals. Every wait has a deadline; nothing is timed."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from cosmonapse import (
    Axon,
    Dendrite,
    Directed,
    NeuronError,
    Signal,
    SignalType,
    connect_synapse,
)
from cosmonapse.builders import (
    agent_output_signal,
    imprint_signal,
    imprinted_signal,
    stop_signal,
    stopped_signal,
    task_signal,
)
from cosmonapse.synapses.dev import DevSynapse
from cosmonapse.synapses.dev import connect as dev_connect
from cosmonapse_cli.server import DevSynapseServer
from rich.cells import cell_len

COSMO = str(Path(sys.executable).with_name("cosmo"))
ANSI = re.compile(rb"\x1b\[[0-9;]*m")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update({"PYTHONUNBUFFERED": "1", "COLUMNS": "200", **extra})
    env.pop("SYNAPSE_URL", None)
    return env


class Cosmo:
    """A running ``cosmo`` process with line-wise access to its output."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stdout: list[bytes] = []

    @classmethod
    async def start(cls, *args: str, **env: str) -> Cosmo:
        proc = await asyncio.create_subprocess_exec(
            COSMO,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_env(**env),
        )
        return cls(proc)

    async def line(self, within: float = 30.0) -> bytes:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), within)
        assert line, "the process ended"
        self.stdout.append(line)
        return line

    async def stderr_line(self, within: float = 30.0) -> bytes:
        assert self.proc.stderr is not None
        line = await asyncio.wait_for(self.proc.stderr.readline(), within)
        assert line, "the process ended"
        return line

    async def finish(
        self, *, interrupt: bool = False, within: float = 30.0
    ) -> tuple[int, bytes, bytes]:
        if interrupt:
            self.proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(self.proc.communicate(), within)
        code = self.proc.returncode
        assert code is not None
        return code, b"".join(self.stdout) + out, err

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


@pytest.fixture
async def procs() -> AsyncIterator[list[Cosmo]]:
    started: list[Cosmo] = []
    yield started
    for proc in started:
        proc.kill()
        await asyncio.wait_for(proc.proc.wait(), 10)


async def cosmo(procs: list[Cosmo], *args: str, **env: str) -> Cosmo:
    proc = await Cosmo.start(*args, **env)
    procs.append(proc)
    return proc


async def run_cosmo(*args: str, **env: str) -> tuple[int, str, str]:
    proc = await Cosmo.start(*args, **env)
    try:
        code, out, err = await proc.finish()
    finally:
        proc.kill()
    return code, out.decode(), err.decode()


def task(prompt: str, *, to: str = "pool") -> Signal:
    return task_signal(input={"prompt": prompt}, neuron=to)


# -- cosmo synapse start ---------------------------------------------------------------


async def _banner(proc: Cosmo) -> tuple[str, list[str]]:
    lines = [ANSI.sub(b"", await proc.line()).decode().rstrip("\n") for _ in range(4)]
    match = re.fullmatch(r"URL:\s+(cosmo://127\.0\.0\.1:(\d+))", lines[0])
    assert match is not None, lines
    assert int(match.group(2)) != 0
    return match.group(1), lines


async def test_synapse_start_prints_the_banner_then_one_line_per_signal(procs) -> None:
    proc = await cosmo(procs, "synapse", "start", "memory", "--namespace=quickstart", "--port", "0")
    url, lines = await _banner(proc)
    assert lines[1:] == [
        "Namespace:  quickstart",
        "Transport:  TCP + NDJSON (single-host dev only)",
        "─" * 48,
    ]
    synapse = await connect_synapse(url)
    try:
        sent = task("the sun", to="worker-a")
        await synapse.publish("cosmonapse.quickstart.TASK", sent.encode())
        await synapse.publish("cosmonapse.elsewhere.TASK", task("not shown").encode())
        reply = sent.reply(
            SignalType.AGENT_OUTPUT,
            {"output": {"response": "Golden disc"}},
            directed=Directed("worker-a"),
        )
        await synapse.publish("cosmonapse.quickstart.AGENT_OUTPUT", reply.encode())
        first = (await proc.line()).decode()
        second = (await proc.line()).decode()
    finally:
        await synapse.close()
    short = sent.trace_id[-8:]
    assert re.match(r"\d\d:\d\d:\d\d\.\d{3}  TASK ", first), first
    assert "quickstart" in first and short in first
    # The TASK names no sending Dendrite (meta.node): the route rule calls it the orchestrator.
    assert "orchestrator -> worker-a" in first and '{"prompt":"the sun"}' in first
    assert "AGENT_OUTPUT" in second and "worker-a -> orchestrator" in second
    assert "Golden disc" in second
    code, out, err = await proc.finish(interrupt=True)
    assert code == 0
    assert b"not shown" not in out  # another namespace
    assert not ANSI.search(out)  # a pipe gets no colour
    assert b"dev synapse stopped" in err


async def test_synapse_start_quiet_prints_only_the_banner(procs) -> None:
    proc = await cosmo(procs, "synapse", "start", "memory", "-n", "qs", "--port", "0", "--quiet")
    url, _ = await _banner(proc)
    synapse = await dev_connect(url)
    try:
        await synapse.publish("cosmonapse.qs.TASK", task("hush").encode())
        await synapse.flush()  # the server has routed it
    finally:
        await synapse.close()
    code, out, _ = await proc.finish(interrupt=True)
    assert code == 0
    assert b"hush" not in out and out.count(b"\n") == 4


async def test_synapse_start_colours_only_when_asked(procs) -> None:
    async def first_signal_line(**env: str) -> bytes:
        proc = await cosmo(procs, "synapse", "start", "memory", "-n", "qs", "--port", "0", **env)
        url, _ = await _banner(proc)
        synapse = await connect_synapse(url)
        try:
            await synapse.publish("cosmonapse.qs.TASK", task("colour").encode())
            line = await proc.line()
        finally:
            await synapse.close()
        await proc.finish(interrupt=True)
        return line

    forced = await first_signal_line(FORCE_COLOR="1")
    assert re.search(rb"\x1b\[[0-9;]*3\dm", forced)  # a foreground colour
    no_color = await first_signal_line(FORCE_COLOR="1", NO_COLOR="1")
    assert not re.search(rb"\x1b\[[0-9;]*3\dm", no_color)


async def test_synapse_start_on_a_taken_port_says_so() -> None:
    async with DevSynapseServer("127.0.0.1", port=0) as taken:
        code, _, err = await run_cosmo("synapse", "start", "memory", "--port", str(taken.port))
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{taken.port}" in err
    assert "already running" in err


async def test_synapse_start_on_a_public_address_warns(procs) -> None:
    # Without a token this is refused (test_server_auth.py); with one it starts and warns.
    proc = await cosmo(
        procs,
        "synapse",
        "start",
        "memory",
        "--host",
        "0.0.0.0",
        "--port",
        "0",
        COSMO_TOKEN="public-address-token",
    )
    await proc.line()
    warning = (await proc.stderr_line()).decode()
    assert warning.startswith("WARNING: ") and "not encrypted" in warning
    assert "public-address-token" not in warning
    await proc.finish(interrupt=True)


# -- cosmo doppler ---------------------------------------------------------------------


async def test_doppler_json_streams_matching_signals_as_ndjson(server: DevSynapseServer) -> None:
    proc = await Cosmo.start(
        "doppler",
        "--url",
        server.url,
        "-n",
        "qs",
        "--type",
        "TASK",
        "-t",
        "FINAL",
        "--json",
        "--count",
        "2",
    )
    try:
        ready = (await proc.stderr_line()).decode()
        assert "watching namespace qs" in ready
        synapse = await connect_synapse(server.url)
        try:
            sent = task("json")
            final = sent.reply(SignalType.FINAL, {"result": {"ok": True}})
            heartbeat = Signal(type=SignalType.HEARTBEAT, payload={"status": "ok"})
            await synapse.publish("cosmonapse.qs.TASK", sent.encode())
            await synapse.publish("cosmonapse.qs.HEARTBEAT", heartbeat.encode())
            await synapse.publish("cosmonapse.qs.TASK", b"not a signal")
            await synapse.publish("cosmonapse.other.TASK", task("elsewhere").encode())
            await synapse.publish("cosmonapse.qs.FINAL", final.encode())
            code, out, err = await proc.finish()  # --count 2 ends it
        finally:
            await synapse.close()
    finally:
        proc.kill()
    assert code == 0
    lines = out.decode().splitlines()
    assert [Signal.decode(line) for line in lines] == [sent, final]
    assert all(orjson.loads(line)["v"] == "1" for line in lines)
    assert b"not a Signal" in err


async def test_doppler_filters_by_trace_and_neuron(server: DevSynapseServer) -> None:
    wanted = task("mine", to="worker-a")
    proc = await Cosmo.start(
        "doppler",
        "--url",
        server.url,
        "-n",
        "qs",
        "--trace",
        wanted.trace_id[-10:],
        "--neuron",
        "worker-a",
        "--count",
        "1",
    )
    try:
        await proc.stderr_line()
        synapse = await connect_synapse(server.url)
        try:
            await synapse.publish("cosmonapse.qs.TASK", task("other trace", to="worker-a").encode())
            await synapse.publish("cosmonapse.qs.TASK", task("same trace, other neuron").encode())
            await synapse.publish("cosmonapse.qs.TASK", wanted.encode())
            code, out, _ = await proc.finish()
        finally:
            await synapse.close()
    finally:
        proc.kill()
    assert code == 0
    assert out.decode().count("\n") == 1 and "mine" in out.decode()


async def test_doppler_with_nothing_listening_fails_clearly() -> None:
    async with DevSynapseServer("127.0.0.1", port=0) as gone:
        url = gone.url
    code, _, err = await run_cosmo("doppler", "--url", url, "-n", "qs")
    assert code == 1
    assert f"nothing is listening at {url}" in err


async def test_doppler_prism_hands_over_to_prism(server: DevSynapseServer) -> None:
    proc = await Cosmo.start(
        "doppler", "--prism", "--url", server.url, "-n", "qs", "--port", "0", "--no-browser"
    )
    try:
        line = ""
        while "http://127.0.0.1:" not in line:
            line = (await proc.line()).decode()
        page = re.search(r"http://127\.0\.0\.1:\d+\S*", line)
        assert page is not None
        code, _, _ = await proc.finish(interrupt=True)
    finally:
        proc.kill()
    assert code in (0, 130)


# -- cosmo dispatch --------------------------------------------------------------------


@pytest.fixture
async def worker(server: DevSynapseServer) -> AsyncIterator[DevSynapse]:
    """A worker hosting ``echo`` (answers) and ``broken`` (raises a NeuronError)."""

    async def echo(input: dict, context: object) -> dict:
        return {"echo": input}

    async def broken(input: dict, context: object) -> dict:
        raise NeuronError("the model is down", code="UPSTREAM", recoverable=True)

    synapse = await dev_connect(server.url)
    dendrite = Dendrite(synapse=synapse, namespace="qs", dendrite_id="worker-host", heartbeat_s=0)
    dendrite.attach_axon(Axon(neuron_id="echo", neuron_fn=echo, capabilities=["chat"]))
    dendrite.attach_axon(Axon(neuron_id="broken", neuron_fn=broken, capabilities=["fail"]))
    async with dendrite:
        yield synapse
    await synapse.close()


async def test_dispatch_prints_the_reply_and_exits_0(server: DevSynapseServer, worker) -> None:
    code, out, _ = await run_cosmo(
        "dispatch",
        "--url",
        server.url,
        "-n",
        "qs",
        "--neuron",
        "echo",
        "--input",
        '{"prompt": "the sun"}',
    )
    assert code == 0
    # The reply goes back to the Dendrite dispatch ran, named for the command.
    assert re.search(r"AGENT_OUTPUT .* echo -> cosmo-dispatch-[0-9a-f]{6} ", out), out
    assert '"prompt": "the sun"' in out


async def test_dispatch_by_capabilities_as_json(server: DevSynapseServer, worker) -> None:
    code, out, _ = await run_cosmo(
        "dispatch",
        "--url",
        server.url,
        "-n",
        "qs",
        "--capabilities",
        "chat",
        "--input",
        '{"prompt": "caps"}',
        "--json",
    )
    assert code == 0
    reply = Signal.decode(out.strip())
    assert reply.type is SignalType.AGENT_OUTPUT
    assert reply.neuron == "echo"
    assert reply.payload["output"] == {"echo": {"prompt": "caps"}}


async def test_dispatch_exits_1_on_an_error_reply(server: DevSynapseServer, worker) -> None:
    code, out, _ = await run_cosmo(
        "dispatch", "--url", server.url, "-n", "qs", "--neuron", "broken", "--input", "{}"
    )
    assert code == 1
    assert "ERROR" in out and "UPSTREAM: the model is down" in out


async def test_dispatch_exits_2_when_nothing_answers(server: DevSynapseServer, worker) -> None:
    code, _, err = await run_cosmo(
        "dispatch",
        "--url",
        server.url,
        "-n",
        "qs",
        "--neuron",
        "nobody",
        "--input",
        "{}",
        "--timeout",
        "0.5",
    )
    assert code == 2
    assert "no reply from nobody within 0.5 s" in err


async def test_dispatch_with_nothing_listening_exits_1() -> None:
    async with DevSynapseServer("127.0.0.1", port=0) as gone:
        url = gone.url
    code, _, err = await run_cosmo(
        "dispatch", "--url", url, "-n", "qs", "--neuron", "x", "--input", "{}"
    )
    assert code == 1
    assert "nothing is listening" in err


async def _dispatch_waiting_on(url: str, server_url: str, procs: list[Cosmo]) -> Cosmo:
    """Start ``cosmo dispatch`` to a neuron nobody hosts (a long timeout), and return once
    its TASK has crossed the synapse: it is then waiting for the reply."""
    watcher = await dev_connect(server_url)
    sent = asyncio.Event()

    async def seen(subject: str, data: bytes) -> None:
        sent.set()

    try:
        await watcher.subscribe("cosmonapse.qs.TASK", seen)
        proc = await cosmo(
            procs, "dispatch", "--url", url, "-n", "qs", "--neuron", "nobody",
            "--input", "{}", "--timeout", "600",
        )  # fmt: skip
        await asyncio.wait_for(sent.wait(), 30)
    finally:
        await watcher.close()
    return proc


async def test_dispatch_exits_1_at_once_when_the_synapse_is_lost(procs: list[Cosmo]) -> None:
    server = DevSynapseServer("127.0.0.1", port=0)
    await server.start()
    url = f"{server.url}?reconnect_attempts=3&reconnect_delay=0.01&reconnect_max_delay=0.05"
    try:
        proc = await _dispatch_waiting_on(url, server.url, procs)
    finally:
        await server.close()
    # The 600 s timeout is far past finish()'s deadline: only the lost synapse ends it.
    code, _, err = await proc.finish()
    assert code == 1, err
    assert b"lost the synapse" in err and b"while waiting for the reply" in err


async def test_dispatch_exits_130_on_ctrl_c(server: DevSynapseServer, procs: list[Cosmo]) -> None:
    proc = await _dispatch_waiting_on(server.url, server.url, procs)
    code, _, err = await proc.finish(interrupt=True)
    assert code == 130, err


# -- cosmo synapse view ----------------------------------------------------------------


async def test_synapse_view_shows_namespaces_and_counts(server: DevSynapseServer) -> None:
    synapse = await dev_connect(server.url)
    try:
        await synapse.register_namespace("qs")
        await synapse.subscribe("cosmonapse.qs.>", lambda s, d: asyncio.sleep(0))
        await synapse.publish("cosmonapse.qs.TASK", task("count me").encode())
        await synapse.publish("cosmonapse.other.FINAL", b"{}")
        await synapse.flush()
        code, out, _ = await run_cosmo("synapse", "view", "--url", server.url)
        assert code == 0
        assert "qs" in out and "other" in out and "TASK=1" in out
        code, out, _ = await run_cosmo("synapse", "view", "--url", server.url, "-n", "qs", "--json")
    finally:
        await synapse.close()
    assert code == 0
    (info,) = orjson.loads(out)
    assert info["namespace"] == "qs" and info["published"] == 1 and info["subscriptions"] == 1


async def test_doppler_follows_a_restart_and_exits_1_when_the_synapse_is_gone() -> None:
    server = DevSynapseServer("127.0.0.1", port=0)
    await server.start()
    url = f"{server.url}?reconnect_attempts=100&reconnect_delay=0.01&reconnect_max_delay=0.05"
    proc = await Cosmo.start("doppler", "--url", url, "-n", "qs")
    restarted = DevSynapseServer("127.0.0.1", port=server.port)
    try:
        await proc.stderr_line()  # watching
        await server.close()
        assert "lost the connection" in (await proc.stderr_line()).decode()
        await restarted.start()
        assert "reconnected" in (await proc.stderr_line()).decode()
        synapse = await connect_synapse(restarted.url)
        try:
            await synapse.publish("cosmonapse.qs.TASK", task("after the restart").encode())
            assert "after the restart" in (await proc.line()).decode()
        finally:
            await synapse.close()
        await restarted.close()
        code, _, err = await proc.finish()
    finally:
        proc.kill()
        await server.close()
        await restarted.close()
    assert code == 1
    assert b"could not reconnect" in err and b"lost the synapse" in err


# -- one line per Signal, names that agree with Prism ----------------------------------


def a_workflow() -> list[Signal]:
    """One trace as the Dendrites publish it: a TASK from the Dendrite ``api`` to the
    Neuron ``ingester``, which writes to the Engram ``retry-vectors``, then answers (with
    a payload too long for any terminal); ``api`` STOPs the trace and a Dendrite acks it."""
    run = task_signal(input={"prompt": "the sun " * 40}, neuron="ingester", meta={"node": "api"})
    imprint = imprint_signal(
        engram_id="retry-vectors",
        op="add",
        entry={"text": "a golden disc"},
        trace_id=run.trace_id,
        parent_id=run.id,
    )
    imprinted = imprinted_signal(
        imprint, engram_id="retry-vectors", op="add", entry_id="e1", version=1, took_ms=0.4
    )
    output = agent_output_signal(
        run, output={"response": "word " * 200, "日本": "語" * 50}, producer="ingester"
    )
    stop = stop_signal(trace_id=run.trace_id, producer="api", reason="done")
    error = run.reply(
        SignalType.ERROR,
        {"code": "UPSTREAM", "message": "the model\nsaid\tno " * 20},
        directed=Directed("ingester"),
    )
    acked = stopped_signal(stop, node="worker-host", rolled_back=False, cancelled=0, compensated=0)
    return [run, imprint, imprinted, output, stop, error, acked]


EXPECTED_ROUTES = [
    "api -> ingester",
    "ingester -> retry-vectors",
    "retry-vectors -> ingester",
    "ingester -> api",
    "api -> all",
    "ingester -> api",
    "worker-host -> api",
]


async def watch_workflow(server: DevSynapseServer, columns: str) -> list[str]:
    """Run ``cosmo doppler`` with ``COLUMNS=columns`` on the real dev synapse while the
    workflow is published; the lines it printed."""
    signals = a_workflow()
    proc = await Cosmo.start(
        "doppler", "--url", server.url, "-n", "qs", "--count", str(len(signals)), COLUMNS=columns
    )
    try:
        assert "watching" in (await proc.stderr_line()).decode()
        synapse = await connect_synapse(server.url)
        try:
            for sig in signals:
                await synapse.publish(f"cosmonapse.qs.{sig.type.value}", sig.encode())
            code, out, err = await proc.finish()  # --count ends it
        finally:
            await synapse.close()
    finally:
        proc.kill()
    assert code == 0, err
    return out.decode().splitlines()


async def test_doppler_fits_each_signal_on_one_line_of_80_columns(
    server: DevSynapseServer,
) -> None:
    lines = await watch_workflow(server, "80")
    assert len(lines) == len(EXPECTED_ROUTES), lines  # one line per Signal, nothing wrapped
    for line, route in zip(lines, EXPECTED_ROUTES, strict=True):
        assert cell_len(line) <= 80, line
        assert f"  {route}  " in line, (route, line)
    assert all(line.endswith("…") and cell_len(line) == 80 for line in lines[:4]), lines
    wide = await watch_workflow(server, "160")
    assert len(wide) == len(lines)
    assert all(cell_len(line) <= 160 for line in wide), wide
    assert len(wide[0]) > len(lines[0])  # a wider terminal shows more of the preview
