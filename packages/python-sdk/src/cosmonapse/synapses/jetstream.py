"""JetStreamSynapse: durable work on NATS JetStream (``connect_synapse("nats+js://...")``).

A :class:`~cosmonapse.synapses.nats.NatsSynapse` whose TASKs addressed to a neuron id are
also stored (docs/protocol.md section 6, docs/transports/nats.md "Durable work"). The
Dendrite needs no change; this layer works on the frames it publishes and receives:

* publishing a TASK addressed to a neuron id stores it on that neuron's durable subject
  (one per trace and attempt; ``Nats-Msg-Id`` = the Signal id, so a repeated publish is
  stored once), then sends the core copy, marked with a header, for observers and
  published-protocol peers;
* publishing a REGISTER of a hosted neuron starts pulling from that neuron's durable
  consumer; each TASK pulled is handed to the TASK handlers as if heard on the core
  subject (``meta.host`` set to this host: whichever host pulls it runs it), and its ack
  wait is extended while it runs (one ticker for every held TASK);
* publishing the reply (AGENT_OUTPUT or ERROR whose ``parent_id`` is the TASK, or a FINAL
  naming it in ``meta.task``) acknowledges it, after the reply is sent;
* a STOP published here purges its trace's stored TASKs from the stream and is recorded
  in the stop bucket before it goes out; hosts keep the STOPs they hear or find in the
  bucket (a watch, loaded before the first pull) in memory, and a TASK of a stopped trace
  pulled later is terminated and deleted instead of being run;
* replies are deduplicated at receive: only the first reply to one TASK is delivered.

Every Signal still travels on its core subject. Core copies of stored TASKs are not
delivered to the TASK handlers here (they come from the stream instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

from .. import subjects
from ..exceptions import DurableWorkError, SynapseClosedError
from ._js_names import (
    DURABLE_HEADER,
    JetStreamOptions,
    consumer_filter,
    consumer_name,
    durable_subject,
    purge_filters,
    token,
)
from ._js_objects import open_bucket, open_stream
from ._js_pull import Puller
from ._js_signal import frame_fields, parent_of, with_host
from ._js_stops import UNBOUNDED, StopBook, StopWatch
from ._js_window import SeenWindow
from ._nats_config import NatsConfig, parse_config
from .base import MessageHandler, Subscription
from .nats import NatsSynapse

__all__ = ["JetStreamSynapse", "connect"]

log = logging.getLogger("cosmonapse.synapse.jetstream")

_API_PREFIX = "$JS.API"  # the JetStream API of the account (no domain)
_READY_WAIT_S = 1.0  # between checks that the stop bucket is loaded
_RETRY_S = 0.5  # between attempts to (re)create a consumer or pull while the server is away
_REPLIES = ("AGENT_OUTPUT", "ERROR")
_SCHEME = re.compile(r"nats\+js(\+tls)?://", re.IGNORECASE)


class _Held:
    """A stored TASK handed to the local Dendrite and not yet answered."""

    __slots__ = ("attempt", "key", "msg", "since", "trace_key")

    def __init__(
        self, msg: Msg, key: tuple[str, str], trace_key: str, attempt: int, since: float
    ) -> None:
        self.msg = msg
        self.key = key  # (namespace, neuron id): whose consumer it came from
        self.trace_key = trace_key  # token(trace id), as in the stop bucket
        self.attempt = attempt
        self.since = since  # loop time it was handed over


class _TaskSubscription(Subscription):
    """The TASK subscription of a Dendrite: core frames without the durable mark, plus
    the TASKs pulled from the stream."""

    __slots__ = ("_core", "_handler", "_namespace", "_owner", "queue_group", "subject")

    def __init__(
        self, owner: JetStreamSynapse, namespace: str, core: Subscription, handler: MessageHandler
    ) -> None:
        self._owner = owner
        self._namespace = namespace
        self._core = core
        self._handler = handler
        self.subject = core.subject
        self.queue_group = core.queue_group

    async def unsubscribe(self) -> None:
        sinks = self._owner._sinks.get(self._namespace, [])
        if self._handler in sinks:
            sinks.remove(self._handler)
        await self._core.unsubscribe()


def _split(subject: str) -> tuple[str, str] | None:
    """``(namespace, type)`` of a core Signal subject ``cosmonapse.<ns>.<TYPE>``."""
    parts = subject.split(".")
    if len(parts) != 3 or parts[0] != subjects.PREFIX:
        return None
    return parts[1], parts[2]


def _not_durable(msg: Msg) -> bool:
    return not (msg.headers and DURABLE_HEADER in msg.headers)


class JetStreamSynapse(NatsSynapse):
    """NATS with durable TASKs. Create it with :func:`connect`."""

    def __init__(self, config: NatsConfig, options: JetStreamOptions) -> None:
        super().__init__(config)
        self.options = options
        self._js: JetStreamContext | None = None
        self._streams: set[str] = set()
        self._buckets: dict[str, KeyValue] = {}
        self._ensure_lock = asyncio.Lock()
        self._sinks: dict[str, list[MessageHandler]] = {}
        self._consumers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._holding: dict[tuple[str, str], int] = {}  # held TASKs per consumer
        self._wakers: dict[tuple[str, str], asyncio.Event] = {}  # set when room frees up
        self._nodes: dict[str, str] = {}  # namespace -> this host's Dendrite id (meta.node)
        self._stop_subs: dict[str, Subscription] = {}
        self._held: dict[str, _Held] = {}
        self._ticker: asyncio.Task[None] | None = None  # extends the ack wait of held TASKs
        self._answered: SeenWindow[bool] = SeenWindow(options.seen_window)
        self._replied: SeenWindow[bool] = SeenWindow(options.seen_window)
        self._book = StopBook(options.seen_window)
        self._watches: dict[str, StopWatch] = {}
        self._counts = {"stored": 0, "pulled": 0, "acked": 0, "discarded": 0, "duplicates": 0}

    # -- JetStream objects, created on first use -------------------------------------------

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            self._js = self._client.jetstream(timeout=max(2.0, self._config.connect_timeout))
        return self._js

    async def ensure_stream(self, namespace: str) -> str:
        """Create (or find) the TASK stream of ``namespace`` and its stop bucket; return
        the stream's name. The two are made together, the bucket with the stream's
        replicas, so a cluster that can store the TASKs can also keep their STOPs."""
        name = self.options.stream_name(namespace)
        if name in self._streams:
            return name
        async with self._ensure_lock:
            if name not in self._streams:
                replicas = await open_stream(self.js, self.options, namespace)
                kv = await open_bucket(self.js, self.options, namespace, replicas)
                self._buckets[namespace] = kv
                self._streams.add(name)
        return name

    async def stop_bucket(self, namespace: str) -> KeyValue:
        """The KV bucket of STOPped traces of ``namespace`` (created on first use)."""
        await self.ensure_stream(namespace)
        return self._buckets[namespace]

    # -- publishing ---------------------------------------------------------------------

    async def publish(self, subject: str, data: bytes) -> None:
        """As :meth:`NatsSynapse.publish`; a TASK addressed to a neuron id returns once
        JetStream has stored it, a STOP once it is recorded. Raises
        :class:`~cosmonapse.DurableWorkError` when JetStream does not answer."""
        where = _split(subject)
        if where is None or self.closed:
            await super().publish(subject, data)
            return
        namespace, kind = where
        if kind == "TASK":
            fields = frame_fields(data)
            neuron = fields.neuron if fields is not None else None
            if fields is None or neuron is None:
                await super().publish(subject, data)
                return
            subjects.validate_subject(subject, wildcards=False)
            attempt = fields.attempt if fields.attempt is not None else 1
            stored_on = durable_subject(namespace, neuron, fields.trace_id, attempt)
            await self._durably(self._store(namespace, stored_on, fields.id, data))
            await self._publish(subject, data, headers={DURABLE_HEADER: "1"})
            return
        if kind == "STOP":
            fields = frame_fields(data)
            if fields is not None:
                await self._durably(self._record_stop(namespace, fields.trace_id, fields.attempt))
            await super().publish(subject, data)
            return
        await super().publish(subject, data)
        if kind in _REPLIES or kind == "FINAL":
            await self._settle(data, kind)
        elif kind == "REGISTER":
            self._on_register(namespace, data)

    async def _durably(self, work: Awaitable[None]) -> None:
        try:
            await work
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError):
            raise SynapseClosedError(f"publish on a closed JetStreamSynapse ({self.url})") from None
        except (TimeoutError, nats.errors.Error) as exc:
            raise DurableWorkError(
                f"JetStream did not store the frame ({type(exc).__name__}: {exc}); "
                "is JetStream enabled on the server (nats-server --jetstream)?"
            ) from None

    async def _store(self, namespace: str, stored_on: str, signal_id: str, data: bytes) -> None:
        stream = await self.ensure_stream(namespace)
        await self.js.publish(stored_on, data, stream=stream, headers={"Nats-Msg-Id": signal_id})
        self._counts["stored"] += 1

    async def _record_stop(self, namespace: str, trace_id: str, attempt: int | None) -> None:
        """Purge the trace's stored TASKs (so none is delivered after this returns), then
        record the STOP for TASKs of the trace stored later and hosts that start later."""
        bound = UNBOUNDED if attempt is None else attempt
        self._book.mark(token(trace_id), bound)
        stream = await self.ensure_stream(namespace)
        filters = purge_filters(namespace, trace_id, attempt)
        await asyncio.gather(*(self.js.purge_stream(stream, subject=f) for f in filters))
        kv = await self.stop_bucket(namespace)
        await kv.put(token(trace_id), str(bound).encode())

    async def _settle(self, data: bytes, kind: str) -> None:
        """The local Dendrite answered a TASK: acknowledge the stored copy."""
        if not self._held:
            return
        if kind == "FINAL":
            fields = frame_fields(data)
            task_id = fields.task if fields is not None else None
        else:
            task_id = parent_of(data)
        if task_id is None:
            return
        held = self._held.pop(task_id, None)
        if held is None:
            return
        self._answered.add(task_id, True)
        self._release(held)
        with contextlib.suppress(nats.errors.Error):
            await held.msg.ack()
            self._counts["acked"] += 1

    # -- hosting: pull the stored TASKs of each hosted neuron -------------------------------

    def _on_register(self, namespace: str, data: bytes) -> None:
        fields = frame_fields(data)
        if fields is None or fields.neuron is None or fields.role != "neuron":
            return
        if fields.node is not None:
            self._nodes[namespace] = fields.node
        key = (namespace, fields.neuron)
        if key in self._consumers:
            return
        task = asyncio.get_running_loop().create_task(
            self._pull(namespace, fields.neuron), name=f"cosmonapse-js-pull:{fields.neuron}"
        )
        self._consumers[key] = task

    async def _pull(self, namespace: str, neuron: str) -> None:
        """Pull the neuron's stored TASKs while this host holds fewer than
        ``max_in_flight`` of them. Survives server restarts and fail-overs."""
        key = (namespace, neuron)
        opts = self.options
        puller: Puller | None = None
        try:
            while not self.closed:
                try:
                    if puller is None or puller.lost:
                        await self._ensure_stop_listener(namespace)
                        watch = self._watches[namespace]
                        if not watch.ready.is_set():  # no pull before recorded STOPs are in
                            with contextlib.suppress(asyncio.TimeoutError):
                                await asyncio.wait_for(watch.ready.wait(), _READY_WAIT_S)
                            continue
                        stream = await self.ensure_stream(namespace)
                        await self.js.add_consumer(
                            stream,
                            api.ConsumerConfig(
                                durable_name=consumer_name(neuron),
                                filter_subject=consumer_filter(namespace, neuron),
                                ack_policy=api.AckPolicy.EXPLICIT,
                                deliver_policy=api.DeliverPolicy.ALL,
                                ack_wait=opts.ack_wait,
                                max_deliver=-1,
                                max_ack_pending=max(opts.max_in_flight * 4, 1024),
                            ),
                        )
                        if puller is not None:
                            await puller.close()
                        puller = Puller(
                            self._client,
                            _API_PREFIX,
                            stream,
                            consumer_name(neuron),
                            lambda: opts.max_in_flight - self._holding.get(key, 0),
                            lambda msg: self._take(namespace, key, msg),
                        )
                        self._wakers[key] = puller.wake
                        await puller.open()
                    await puller.step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the server is away, restarting, or failing over
                    if self.closed:
                        return
                    log.debug("pulling TASKs of %s: %s: %s", neuron, type(exc).__name__, exc)
                    await asyncio.sleep(_RETRY_S)
        finally:
            if puller is not None:
                await puller.close()

    async def _take(self, namespace: str, key: tuple[str, str], msg: Msg) -> None:
        self._counts["pulled"] += 1
        fields = frame_fields(msg.data)
        if fields is None:  # not a Signal: nothing can ever run it
            await self._discard(namespace, msg)
            return
        task_id = fields.id
        if task_id in self._answered:  # answered here; the ack was lost
            self._counts["duplicates"] += 1
            with contextlib.suppress(nats.errors.Error):
                await msg.ack()
            return
        held = self._held.get(task_id)
        if held is not None:  # redelivered while still running here: keep it
            self._counts["duplicates"] += 1
            held.msg = msg
            return
        attempt = fields.attempt if fields.attempt is not None else 1
        trace_key = token(fields.trace_id)
        if self._book.stops(trace_key, attempt):
            await self._discard(namespace, msg)
            return
        sinks = list(self._sinks.get(namespace, ()))
        if not sinks:  # the Dendrite is not listening (yet, or any more): let another host
            with contextlib.suppress(nats.errors.Error):
                await msg.nak(delay=_RETRY_S)
            return
        loop = asyncio.get_running_loop()
        self._held[task_id] = _Held(msg, key, trace_key, attempt, loop.time())
        self._holding[key] = self._holding.get(key, 0) + 1
        if self._ticker is None:
            self._ticker = loop.create_task(self._keep_alive(), name="cosmonapse-js-alive")
        frame = with_host(msg.data, self._nodes.get(namespace))
        subject = subjects.signal_subject(namespace, "TASK")
        for sink in sinks:
            try:
                result = sink(subject, frame)
                if result is not None:
                    await result
            except Exception as exc:
                log.error("TASK handler raised %s: %s", type(exc).__name__, exc)

    async def _keep_alive(self) -> None:
        """Every ``ack_wait / 3``, tell JetStream that each held TASK's run is alive (for
        at most ``max_age`` per TASK); a host that dies stops telling, and its TASKs are
        redelivered. One ticker for all held TASKs, running until close."""
        period = self.options.ack_wait / 3
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(period)
            oldest = loop.time() - self.options.max_age
            for held in list(self._held.values()):
                if held.since > oldest:
                    with contextlib.suppress(nats.errors.Error):
                        await held.msg.in_progress()

    def _release(self, held: _Held) -> None:
        self._holding[held.key] = self._holding.get(held.key, 1) - 1
        waker = self._wakers.get(held.key)
        if waker is not None:
            waker.set()

    async def _discard(self, namespace: str, msg: Msg) -> None:
        """Remove a TASK that must never run (its trace was STOPped)."""
        self._counts["discarded"] += 1
        with contextlib.suppress(nats.errors.Error):
            await msg.term()
        with contextlib.suppress(nats.errors.Error, nats.js.errors.Error):
            seq = msg.metadata.sequence.stream
            await self.js.delete_msg(self.options.stream_name(namespace), seq)

    # -- STOP ---------------------------------------------------------------------------

    async def _ensure_stop_listener(self, namespace: str) -> None:
        if namespace in self._stop_subs:
            return
        self._stop_subs[namespace] = await super()._subscribe(
            subjects.signal_subject(namespace, "STOP"), self._stop_handler(namespace)
        )
        watch = StopWatch(self._book, lambda: self.stop_bucket(namespace), _RETRY_S)
        self._watches[namespace] = watch
        watch.start(f"cosmonapse-js-stops:{namespace}")

    def _stop_handler(self, namespace: str) -> Callable[[str, bytes], Awaitable[None]]:
        async def on_stop(subject: str, data: bytes) -> None:
            fields = frame_fields(data)
            if fields is None:
                return
            bound = UNBOUNDED if fields.attempt is None else fields.attempt
            trace_key = token(fields.trace_id)
            self._book.mark(trace_key, bound)
            for task_id, held in list(self._held.items()):
                if held.trace_key == trace_key and self._book.stops(trace_key, held.attempt):
                    self._held.pop(task_id, None)
                    self._release(held)
                    await self._discard(namespace, held.msg)

        return on_stop

    # -- subscribing --------------------------------------------------------------------

    async def subscribe(
        self,
        subject: str,
        handler: MessageHandler,
        *,
        queue_group: str | None = None,
    ) -> Subscription:
        """As :meth:`NatsSynapse.subscribe`. On a namespace's TASK subject the handler also
        gets the stored TASKs of the neurons this host registers; on AGENT_OUTPUT and
        ERROR it gets only the first reply to each TASK."""
        where = _split(subject)
        if where is not None and where[1] == "TASK":
            core = await self._subscribe(
                subject, handler, queue_group=queue_group, accept=_not_durable
            )
            self._sinks.setdefault(where[0], []).append(handler)
            return _TaskSubscription(self, where[0], core, handler)
        if where is not None and where[1] in _REPLIES:
            return await self._subscribe(
                subject, handler, queue_group=queue_group, accept=self._first_reply
            )
        return await super().subscribe(subject, handler, queue_group=queue_group)

    def _first_reply(self, msg: Msg) -> bool:
        parent = parent_of(msg.data)
        if parent is None:
            return True
        if parent in self._replied:
            self._counts["duplicates"] += 1
            return False
        self._replied.add(parent, True)
        return True

    # -- state and closing -----------------------------------------------------------------

    @property
    def stats(self) -> dict[str, int]:
        """:attr:`NatsSynapse.stats` plus ``stored``, ``pulled``, ``acked``, ``discarded``
        (STOPped TASKs removed), ``duplicates`` (dropped by dedup) and ``held``."""
        return {**super().stats, **self._counts, "held": len(self._held)}

    async def close(self) -> None:
        """Stop pulling, hand back the TASKs held here (negative ack: another host gets
        them now, not after ``ack_wait``), then close as :meth:`NatsSynapse.close`."""
        if self.closed:
            await super().close()
            return
        tasks = list(self._consumers.values())
        self._consumers.clear()
        if self._ticker is not None:
            tasks.append(self._ticker)
            self._ticker = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        watches, self._watches = list(self._watches.values()), {}
        await asyncio.gather(*(w.close() for w in watches))
        held, self._held = list(self._held.values()), {}
        for item in held:
            self._release(item)
            with contextlib.suppress(nats.errors.Error):
                await item.msg.nak()
        await super().close()


async def connect(url: str = "nats+js://127.0.0.1:4222", **options: object) -> JetStreamSynapse:
    """Entry point for the ``nats+js`` scheme: a ready :class:`JetStreamSynapse`.

    ``url`` and the NATS options are as for ``nats://`` (see
    :func:`cosmonapse.synapses.nats.connect`); ``nats+js+tls://`` requires TLS. The durable
    layer takes ``ack_wait``, ``max_age``, ``replicas``, ``storage``, ``max_in_flight``,
    ``seen_window``, ``stream`` and ``stop_bucket`` (see
    :class:`~cosmonapse.synapses._js_names.JetStreamOptions`). Nothing is created on the
    server until first use. Raises as ``nats://`` does.
    """
    rest = dict(options)
    js_options = JetStreamOptions.pop_from(rest)
    if not isinstance(url, str) or not _SCHEME.match(url):
        raise ValueError(f"not a nats+js:// URL: {url!r}")
    plain = _SCHEME.sub(lambda m: "tls://" if m.group(1) else "nats://", url)
    config = parse_config(plain, rest)
    synapse = JetStreamSynapse(config, js_options)
    await synapse.open()
    synapse.url = "nats+js://" + synapse.url.partition("://")[2]
    return synapse
