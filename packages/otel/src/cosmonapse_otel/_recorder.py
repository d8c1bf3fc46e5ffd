"""Frames in, spans out: what one process saw its Dendrites publish and receive.

The recorder keeps the spans it has started until the Signal that ends them is seen:

* dispatch (CLIENT): a TASK published here, until its first AGENT_OUTPUT / ERROR received;
* run (SERVER): a TASK received here for a Neuron hosted here, until its reply is published;
* imprint / recall (CLIENT): an IMPRINT / RECALL published here, until its answer arrives;
* a STOP adds an event to the trace's open dispatch and run spans; the STOPPED this process
  publishes adds another and ends the runs it cut. A STOPPED with no open span here (an
  Engram host rolling back) becomes a short span of its own under the STOP's span.

Every table is bounded; the oldest entry is ended (``cosmonapse.unfinished``) to make room.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

from cosmonapse import Signal, SignalType
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import Tracer
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from ._forced import ForcedIds
from ._ids import otel_span_id, otel_trace_id

__all__ = ["MAX_OPEN", "Recorder"]

log = logging.getLogger("cosmonapse_otel")

MAX_OPEN = 10_000
"""Open spans (and remembered TASKs) kept per table before the oldest is let go."""

_REPLIES = (SignalType.AGENT_OUTPUT, SignalType.ERROR)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_Attrs = dict[str, str | bool | int | float]


class _Table(OrderedDict[str, Any]):
    """An insertion-ordered dict bounded to MAX_OPEN entries."""

    def put(self, key: str, value: Any) -> Any:
        """Store ``value``; return the entry evicted to make room, if any."""
        self[key] = value
        if len(self) > MAX_OPEN:
            return self.popitem(last=False)[1]
        return None


def _end(span: trace.Span, end_ns: int, *, unfinished: bool = False) -> None:
    if unfinished:
        span.set_attribute("cosmonapse.unfinished", True)
    span.end(end_time=end_ns)


def _parent(trace_id: int, span_id: int) -> otel_context.Context:
    remote = SpanContext(trace_id, span_id, is_remote=True, trace_flags=_SAMPLED)
    return trace.set_span_in_context(trace.NonRecordingSpan(remote), otel_context.Context())


def _usage(reply: Signal) -> _Attrs:
    """gen_ai.usage.* from the reply's ``meta.tokens`` and an output's ``meta.usage``."""
    found: _Attrs = {}
    tokens = reply.meta.get("tokens")
    if isinstance(tokens, int) and not isinstance(tokens, bool):
        found["gen_ai.usage.total_tokens"] = tokens
    elif isinstance(tokens, dict):
        for key, name in (("in", "input"), ("out", "output")):
            if isinstance(tokens.get(key), int):
                found[f"gen_ai.usage.{name}_tokens"] = tokens[key]
    output = reply.payload.get("output")
    meta = output.get("meta") if isinstance(output, dict) else None
    usage = meta.get("usage") if isinstance(meta, dict) else None
    if isinstance(usage, dict):
        for keys, name in (
            (("input_tokens", "prompt_tokens"), "input"),
            (("output_tokens", "completion_tokens"), "output"),
        ):
            for key in keys:
                if isinstance(usage.get(key), int):
                    found.setdefault(f"gen_ai.usage.{name}_tokens", usage[key])
        if isinstance(meta, dict) and isinstance(meta.get("model"), str):
            found["gen_ai.response.model"] = meta["model"]
    return found


class Recorder:
    """Turns the Signals one process sees into spans on ``tracer`` (see the module doc)."""

    def __init__(self, tracer: Tracer, ids: ForcedIds, *, namespace: str | None = None) -> None:
        self._tracer = tracer
        self._ids = ids
        self._namespace = namespace
        self._dispatches = _Table()  # TASK id -> span
        self._runs = _Table()  # TASK id -> span
        self._heard = _Table()  # TASK id -> (Signal, ns): received, not known to be ours
        self._engram_calls = _Table()  # IMPRINT / RECALL id -> span
        self._roots = _Table()  # trace id -> the first root TASK id published here
        self._stops = _Table()  # STOP id -> the STOP (each seen once)
        self._seen_in = _Table()  # ids of Signals received (several subscriptions, one Signal)
        self._seen_out = _Table()
        self.hosted: set[str] = set()  # neuron ids this process REGISTERed
        self.nodes: set[str] = set()  # Dendrite ids of those REGISTERs

    # -- entry points ----------------------------------------------------------------
    def published(self, data: bytes) -> str | None:
        """A frame this process is publishing (seen before it goes out, so an answer that
        comes back at once still finds its span); returns the Signal's id, if it is one."""
        return self._observe(data, outbound=True)

    def received(self, data: bytes) -> None:
        """A frame delivered to one of this process's subscriptions."""
        self._observe(data, outbound=False)

    def not_published(self, signal_id: str, exc: BaseException) -> None:
        """The publish of ``signal_id`` failed: end the spans it started, with status
        ERROR, and forget it (so publishing it again is traced again)."""
        self._seen_out.pop(signal_id, None)
        now = time.time_ns()
        for table in (self._dispatches, self._engram_calls):
            span = table.pop(signal_id, None)
            if span is not None:
                span.set_status(Status(StatusCode.ERROR, f"not published: {exc!r}"))
                _end(span, now)

    def close(self) -> None:
        """End every span still open (``cosmonapse.unfinished``)."""
        now = time.time_ns()
        for table in (self._dispatches, self._runs, self._engram_calls):
            for span in table.values():
                _end(span, now, unfinished=True)
            table.clear()

    def _observe(self, data: bytes, *, outbound: bool) -> str | None:
        now = time.time_ns()
        try:
            signal = Signal.decode(data)
        except Exception:  # not a Signal: not ours to trace
            return None
        seen = self._seen_out if outbound else self._seen_in
        if signal.id in seen:
            return signal.id
        seen.put(signal.id, True)
        try:
            self._dispatch(signal, now, outbound=outbound)
        except Exception as exc:  # tracing must never break the bus
            log.warning("cosmonapse_otel: could not trace %s: %s", signal.type.value, exc)
        return signal.id

    def _dispatch(self, signal: Signal, now: int, *, outbound: bool) -> None:
        kind = signal.type
        if kind is SignalType.TASK:
            (self._task_sent if outbound else self._task_heard)(signal, now)
        elif kind in _REPLIES:
            (self._reply_sent if outbound else self._reply_heard)(signal, now)
        elif kind is SignalType.REGISTER and outbound:
            self._registered(signal)
        elif kind in (SignalType.IMPRINT, SignalType.RECALL) and outbound:
            self._engram_call(signal, now)
        elif kind in (SignalType.IMPRINTED, SignalType.RECALLED) and not outbound:
            self._engram_answer(signal, now)
        elif kind is SignalType.STOP:
            self._stop(signal, now, outbound=outbound)
        elif kind is SignalType.STOPPED and outbound:
            self._stopped(signal, now)

    # -- spans -----------------------------------------------------------------------
    def _start(
        self,
        signal: Signal,
        name: str,
        role: str,
        kind: SpanKind,
        start_ns: int,
        parent_span_id: int | None,
        attributes: _Attrs,
        links: list[Link] | None = None,
    ) -> trace.Span:
        trace_id = otel_trace_id(signal.trace_id)
        ctx = (
            _parent(trace_id, parent_span_id)
            if parent_span_id is not None
            else otel_context.Context()
        )
        self._ids.next_trace_id = trace_id
        self._ids.next_span_id = otel_span_id(signal.id, role)
        base: _Attrs = {"cosmonapse.trace_id": signal.trace_id, "cosmonapse.signal_id": signal.id}
        if self._namespace:
            base["cosmonapse.namespace"] = self._namespace
        return self._tracer.start_span(
            name,
            context=ctx,
            kind=kind,
            attributes={**base, **attributes},
            links=links,
            start_time=start_ns,
        )

    def _task_attrs(self, task: Signal) -> _Attrs:
        attrs: _Attrs = {}
        neuron = task.neuron
        if neuron:
            attrs["gen_ai.agent.name"] = neuron
        caps = task.directed.capabilities if task.directed else []
        if caps:
            attrs["cosmonapse.capabilities"] = ",".join(caps)
        for key in ("depth", "caller", "attempt", "host", "retry_of"):
            value = task.meta.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                attrs[f"cosmonapse.{key}"] = value
        return attrs

    def _task_sent(self, task: Signal, now: int) -> None:
        target = task.neuron or ",".join(task.directed.capabilities if task.directed else [])
        attrs = self._task_attrs(task)
        links: list[Link] = []
        parent: int | None = None
        if task.parent_id is not None:
            parent = otel_span_id(task.parent_id, "run")
        else:
            if task.trace_id not in self._roots:
                self._roots.put(task.trace_id, task.id)
            retry_of = task.meta.get("retry_of")
            if isinstance(retry_of, str):
                links.extend(self._retry_link(task, retry_of))
        span = self._start(
            task, f"dispatch {target}", "dispatch", SpanKind.CLIENT, now, parent, attrs, links
        )
        self._keep(self._dispatches, task.id, span, now)

    def _retry_link(self, task: Signal, retry_of: str) -> list[Link]:
        try:
            trace_id = otel_trace_id(retry_of)
        except ValueError:
            return []
        first = self._roots.get(retry_of)
        if first == task.id:
            return []
        span_id = otel_span_id(first, "dispatch") if first else otel_span_id(retry_of, "dispatch")
        attempt = task.meta.get("attempt")
        attrs: _Attrs = {"cosmonapse.link": "retry_of", "cosmonapse.retry_of": retry_of}
        if isinstance(attempt, int):
            attrs["cosmonapse.attempt"] = attempt
        remote = SpanContext(trace_id, span_id, is_remote=True, trace_flags=_SAMPLED)
        return [Link(remote, attrs)]

    def _ours(self, task: Signal) -> bool:
        host = task.meta.get("host")
        if isinstance(host, str) and host not in self.nodes:
            return False
        return task.neuron in self.hosted

    def _task_heard(self, task: Signal, now: int) -> None:
        if task.id in self._runs:
            return
        if self._ours(task):
            self._start_run(task, now)
        else:
            self._heard.put(task.id, (task, now))

    def _start_run(self, task: Signal, start_ns: int) -> trace.Span:
        neuron = task.neuron or "?"
        attrs = {"gen_ai.operation.name": "invoke_agent", **self._task_attrs(task)}
        span = self._start(
            task,
            f"invoke_agent {neuron}",
            "run",
            SpanKind.SERVER,
            start_ns,
            otel_span_id(task.id, "dispatch"),
            attrs,
        )
        self._keep(self._runs, task.id, span, start_ns)
        return span

    def _keep(self, table: _Table, key: str, span: trace.Span, now: int) -> None:
        evicted = table.put(key, span)
        if evicted is not None:
            _end(evicted, now, unfinished=True)

    def _reply_sent(self, reply: Signal, now: int) -> None:
        task_id = reply.parent_id
        if task_id is None:
            return
        span = self._runs.pop(task_id, None)
        if span is None:
            heard = self._heard.pop(task_id, None)
            if heard is None:
                return
            span = self._start_run(heard[0], heard[1])
            self._runs.pop(task_id, None)
        self._finish(span, reply, now)

    def _reply_heard(self, reply: Signal, now: int) -> None:
        task_id = reply.parent_id
        span = self._dispatches.pop(task_id, None) if task_id is not None else None
        if span is not None:
            self._finish(span, reply, now)

    def _finish(self, span: trace.Span, reply: Signal, now: int) -> None:
        attrs: _Attrs = {"cosmonapse.reply_id": reply.id, "cosmonapse.reply_type": reply.type.value}
        if reply.neuron:
            attrs["cosmonapse.producer"] = reply.neuron
        node = reply.meta.get("node")
        if isinstance(node, str):
            attrs["cosmonapse.node"] = node
        if reply.meta.get("tokens") is not None or "output" in reply.payload:
            attrs.update(_usage(reply))
        if reply.type is SignalType.ERROR:
            code = str(reply.payload.get("code") or "error")
            message = str(reply.payload.get("message") or "")
            attrs["error.type"] = code
            attrs["cosmonapse.error.recoverable"] = bool(reply.payload.get("recoverable"))
            span.set_status(Status(StatusCode.ERROR, f"{code}: {message}" if message else code))
        span.set_attributes(attrs)  # one call: one lock, one pass
        _end(span, now)

    def _registered(self, signal: Signal) -> None:
        role = signal.payload.get("role")
        if role not in (None, "neuron") or not signal.neuron:
            return
        self.hosted.add(signal.neuron)
        node = signal.meta.get("node")
        if isinstance(node, str):
            self.nodes.add(node)

    def _engram_call(self, call: Signal, now: int) -> None:
        imprint = call.type is SignalType.IMPRINT
        role = "imprint" if imprint else "recall"
        target = call.neuron or (call.directed.type if call.directed else None) or "?"
        attrs: _Attrs = {"cosmonapse.engram": target}
        if imprint and isinstance(call.payload.get("op"), str):
            attrs["cosmonapse.imprint.op"] = call.payload["op"]
        if not imprint and isinstance(call.payload.get("recall_mode"), str):
            attrs["cosmonapse.recall.mode"] = call.payload["recall_mode"]
        parent = otel_span_id(call.parent_id, "run") if call.parent_id else None
        span = self._start(call, f"{role} {target}", role, SpanKind.CLIENT, now, parent, attrs)
        self._keep(self._engram_calls, call.id, span, now)

    def _engram_answer(self, answer: Signal, now: int) -> None:
        key = answer.parent_id
        span = self._engram_calls.pop(key, None) if key is not None else None
        if span is None:
            return
        payload = answer.payload
        hits = payload.get("hits")
        if isinstance(hits, list):
            span.set_attribute("cosmonapse.recall.hits", len(hits))
        if isinstance(payload.get("took_ms"), int | float):
            span.set_attribute("cosmonapse.engram.took_ms", payload["took_ms"])
        error = payload.get("error")
        if error:
            span.set_status(Status(StatusCode.ERROR, str(error)))
        _end(span, now)

    # -- STOP ------------------------------------------------------------------------
    def _open_in(self, trace_id: str, bound: int | None) -> list[tuple[str, trace.Span, bool]]:
        """(TASK id, span, is_run) of every open span of ``trace_id`` a STOP reaches."""
        found: list[tuple[str, trace.Span, bool]] = []
        for table, is_run in ((self._dispatches, False), (self._runs, True)):
            for task_id, span in table.items():
                attrs = getattr(span, "attributes", None) or {}
                if attrs.get("cosmonapse.trace_id") != trace_id:
                    continue
                attempt = attrs.get("cosmonapse.attempt")
                if bound is not None and isinstance(attempt, int) and attempt > bound:
                    continue
                found.append((task_id, span, is_run))
        return found

    def _stop(self, stop: Signal, now: int, *, outbound: bool) -> None:
        if stop.id in self._stops:
            return
        self._stops.put(stop.id, stop)
        bound = stop.meta.get("attempt")
        reason = stop.payload.get("reason")
        attrs: _Attrs = {
            "cosmonapse.stop_id": stop.id,
            "cosmonapse.rollback": bool(stop.payload.get("rollback")),
        }
        if isinstance(reason, str):
            attrs["cosmonapse.reason"] = reason
        if stop.neuron:
            attrs["cosmonapse.issuer"] = stop.neuron
        if isinstance(bound, int):
            attrs["cosmonapse.attempt"] = bound
        for task_id, span, is_run in self._open_in(
            stop.trace_id, bound if isinstance(bound, int) else None
        ):
            span.add_event("cosmonapse.stop", attrs, timestamp=now)
            if not is_run:  # the waiter's wait ends here: no reply will be let through
                span.set_status(Status(StatusCode.ERROR, f"stopped: {reason or 'STOP'}"))
                span.set_attribute("cosmonapse.stopped", True)
                self._dispatches.pop(task_id, None)
                _end(span, now)
        if outbound:
            root = self._roots.get(stop.trace_id)
            parent = otel_span_id(root, "dispatch") if root else None
            span = self._start(stop, "stop", "stop", SpanKind.PRODUCER, now, parent, attrs)
            span.add_event("cosmonapse.stop", attrs, timestamp=now)
            _end(span, now)

    def _stopped(self, ack: Signal, now: int) -> None:
        stop = self._stops.get(ack.parent_id) if ack.parent_id else None
        bound = stop.meta.get("attempt") if stop is not None else None
        payload = ack.payload
        attrs: _Attrs = {
            "cosmonapse.stop_id": ack.parent_id or "",
            "cosmonapse.rolled_back": bool(payload.get("rolled_back")),
        }
        for key in ("node",):
            if isinstance(payload.get(key), str):
                attrs[f"cosmonapse.{key}"] = payload[key]
        for key in ("cancelled", "compensated"):
            if isinstance(payload.get(key), int):
                attrs[f"cosmonapse.{key}"] = payload[key]
        runs = [
            (task_id, span)
            for task_id, span, is_run in self._open_in(
                ack.trace_id, bound if isinstance(bound, int) else None
            )
            if is_run
        ]
        for task_id, span in runs:
            span.add_event("cosmonapse.stopped", attrs, timestamp=now)
            span.set_attribute("cosmonapse.stopped", True)
            reason = stop.payload.get("reason") if stop is not None else None
            span.set_status(Status(StatusCode.ERROR, f"stopped: {reason or 'STOP'}"))
            self._runs.pop(task_id, None)
            _end(span, now)
        if not runs:
            parent = otel_span_id(ack.parent_id, "stop") if ack.parent_id else None
            name = f"stopped {payload.get('node') or '?'}"
            span = self._start(ack, name, "stopped", SpanKind.INTERNAL, now, parent, attrs)
            span.add_event("cosmonapse.stopped", attrs, timestamp=now)
            _end(span, now)
