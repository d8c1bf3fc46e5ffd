"""``cosmo record``: write every Signal of a namespace to a file, with its arrival time.

It subscribes as the Doppler does (``cosmonapse.<ns>.>``, no queue group) and writes one
line per Signal (the format is in :mod:`cosmonapse.recording`), flushed as it goes, so
a recorder killed mid-way leaves a file readable up to its last whole line. It is bounded:
it stops by itself, and says so on stderr, before the file passes ``--max-signals`` or
``--max-bytes``. Ctrl-C or SIGTERM ends it; either way it prints one summary line.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from cosmonapse import CosmonapseError, EnvelopeError, Signal, Synapse, connect_synapse
from cosmonapse.recording import encode_frame
from cosmonapse.subjects import PREFIX, namespace_wildcard, validate_namespace
from cosmonapse.synapses import require_watchable

from ..console import err
from ._common import DEFAULT_URL, Failure, UrlOption, fail, run, until_closed, wait_for_stop

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_SIGNALS", "record"]

DEFAULT_MAX_SIGNALS = 100_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class _Recorder:
    """The subscription handler: encodes, checks the bounds, writes and flushes."""

    def __init__(self, file: BinaryIO, max_signals: int, max_bytes: int) -> None:
        self._file = file
        self._max_signals = max_signals
        self._max_bytes = max_bytes
        self.count = 0
        self.bytes = 0
        self.undecodable = 0
        self.bound: str | None = None
        self.full = asyncio.Event()
        self.failed: OSError | None = None

    async def __call__(self, subject: str, data: bytes) -> None:
        if self.full.is_set():
            return
        arrived = time.time()
        try:
            signal = Signal.decode(data)
        except EnvelopeError:
            self.undecodable += 1
            return
        line = encode_frame(arrived, subject, signal)
        if self.bytes + len(line) > self._max_bytes:
            self._stop(f"the next Signal would take the file past --max-bytes {self._max_bytes}")
            return
        try:
            self._file.write(line)
            self._file.flush()
        except OSError as exc:
            self.failed = exc
            self.full.set()
            return
        self.count += 1
        self.bytes += len(line)
        if self.count >= self._max_signals:
            self._stop(f"it reached --max-signals {self._max_signals}")

    def _stop(self, why: str) -> None:
        self.bound = why
        self.full.set()


def record(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The file to write (replaced if it exists).")
    ],
    url: UrlOption = DEFAULT_URL,
    namespace: Annotated[
        str | None,
        typer.Option("--namespace", "-n", help="The namespace to record (default: every one)."),
    ] = None,
    max_signals: Annotated[
        int, typer.Option(min=1, help="Stop after this many Signals.")
    ] = DEFAULT_MAX_SIGNALS,
    max_bytes: Annotated[
        int, typer.Option(min=1, help="Stop before the file grows past this many bytes.")
    ] = DEFAULT_MAX_BYTES,
) -> None:
    """Record every Signal of a namespace to a JSON Lines file, with its arrival time.

    Replay it with cosmo replay, read one trace with cosmo trace, or open it in Prism.
    Stops at --max-signals (100,000) or --max-bytes (256 MiB), or on Ctrl-C / SIGTERM.
    """
    try:
        require_watchable(url)
    except ValueError as exc:
        fail(str(exc))
    if namespace is not None:
        try:
            validate_namespace(namespace)
        except CosmonapseError as exc:
            raise typer.BadParameter(str(exc), param_hint="--namespace") from None
    run(_record(url, namespace, output, max_signals, max_bytes))


async def _record(
    url: str, namespace: str | None, output: Path, max_signals: int, max_bytes: int
) -> None:
    # Connect first: a synapse that cannot be reached leaves an existing file as it was.
    try:
        synapse = await connect_synapse(url)
    except (CosmonapseError, ValueError) as exc:
        raise Failure(str(exc)) from None
    try:
        file = output.open("wb")
    except OSError as exc:
        await synapse.close()
        raise Failure(f"cannot write {output}: {exc.strerror or exc}") from None
    with file:
        recorder = _Recorder(file, max_signals, max_bytes)
        try:
            subject = namespace_wildcard(namespace) if namespace else f"{PREFIX}.>"
            subscription = await synapse.subscribe(subject, recorder)
            where = f"namespace {namespace}" if namespace else "every namespace"
            err(
                f"recording {where} on {synapse.url} to {output}; Ctrl-C to stop",
                style="dim",
                prefix="",
            )
            lost = await _until_the_end(synapse, recorder)
            if not synapse.closed:
                await subscription.unsubscribe()
        finally:
            await synapse.close()
    _summary(recorder, output)
    if recorder.failed is not None:
        raise Failure(f"could not write {output}: {recorder.failed}")
    if lost:
        raise Failure(f"lost the synapse at {synapse.url}; the recording ends there")


async def _until_the_end(synapse: Synapse, recorder: _Recorder) -> bool:
    """Wait for a bound, Ctrl-C / SIGTERM or the synapse closing; True for the last."""
    endings = {
        asyncio.ensure_future(recorder.full.wait()),
        asyncio.ensure_future(wait_for_stop()),
        lost := asyncio.ensure_future(until_closed(synapse)),
    }
    try:
        await asyncio.wait(endings, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in endings:
            task.cancel()
        await asyncio.gather(*endings, return_exceptions=True)
    return lost.done() and not lost.cancelled() and lost.exception() is None


def _summary(recorder: _Recorder, output: Path) -> None:
    if recorder.bound is not None:
        err(f"stopped recording: {recorder.bound}", style="bold yellow", prefix="")
    skipped = (
        f"; skipped {recorder.undecodable} frames that are not Signals"
        if recorder.undecodable
        else ""
    )
    plural = "s" if recorder.count != 1 else ""
    err(
        f"recorded {recorder.count} Signal{plural} ({recorder.bytes} bytes) to {output}{skipped}",
        style="bold",
        prefix="",
    )
