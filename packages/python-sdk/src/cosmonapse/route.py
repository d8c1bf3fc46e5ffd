"""Who sent a Signal, and to whom: the one ``from -> to`` rule every viewer shares.

The envelope does not carry both ends. ``directed`` names the *target* of a request
(TASK, IMPRINT, RECALL) but the *producer* of a reply (AGENT_OUTPUT, IMPRINTED,
STOPPED, ...) and of a STOP; the sending Dendrite names itself in ``meta.node`` on some
Signals only. The other end is therefore read from the Signal's parent (the Signal its
``parent_id`` names) when the viewer still has it. The Doppler (``cosmo doppler``) and
Prism both use :func:`route_of`, so they show the same two names for the same Signal.

The rule is the one Prism's page used to infer on its own. Its terms: ``sender`` is the
first of ``meta.sender``, ``meta.dendrite``, ``meta.source``, ``meta.node`` that is a
non-empty string; ``target`` is ``directed.id``; ``caps`` is ``caps:a,b`` from
``directed.capabilities``; the parent's *actor* is the parent TASK's receiver (the
worker that ran it) or, for any other parent, the parent's own sender.

Per type, each end is the first of its candidates that is present:

* TASK: from ``meta.caller`` (the Neuron that delegated it, on a child TASK), sender,
  the parent's actor, ``orchestrator``; to target, caps, ``*``. A delegated TASK so reads
  ``planner -> researcher``, not the delegating Dendrite's name, and its reply
  ``researcher -> planner``.
* AGENT_OUTPUT, ERROR, TOOL_RESULT: from ``directed.id`` (the producer), the parent
  TASK's receiver, sender; to the parent's sender.
* FINAL: from ``directed.id``, sender, the parent's sender, ``orchestrator``; to ``*``.
* IMPRINT, RECALL: from ``meta.neuron``, the parent's actor (the Neuron whose TASK
  wrote or asked), sender; to target, ``directed.type``, ``*``.
* IMPRINTED, RECALLED: from ``directed.id``, ``payload.engram_id``, sender; to the
  parent's sender.
* STOP: from ``directed.id`` (the producer), sender, ``orchestrator``; to ``all`` (every
  Dendrite with a stake in the trace).
* STOPPED: from ``payload.node``, sender, ``directed.id``; to the parent's (the STOP's)
  sender.
* REGISTER, DEREGISTER, HEARTBEAT: from ``meta.node``, ``directed.id``; to ``*``.
* any other type: from sender, the parent's actor; to target, caps, ``*``.

Two placeholders fill the gaps: :data:`UNKNOWN` (``?``) when the Signal does not say and
its parent is not known, :data:`ANYONE` (``*``) when the Signal is for whoever listens (a
FINAL, a REGISTER, a reply without a parent, a broadcast request). A reply whose parent
was not seen has the receiver :data:`UNKNOWN`; the placeholders are never taken from a
parent as a name.

A stream viewer keeps a :class:`RouteCache`: it remembers the route of the last Signals
it saw (a bounded number, never their payloads), so a reply finds the route of its
parent::

    routes = RouteCache()
    sender, receiver = routes.route(signal)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final, NamedTuple

from .signal import Signal, SignalType

__all__ = ["ALL", "ANYONE", "UNKNOWN", "Route", "RouteCache", "route_of"]

UNKNOWN: Final = "?"
"""The end of a route the Signal does not state and no known parent tells."""
ANYONE: Final = "*"
"""The receiver of a Signal meant for whoever listens."""
ALL: Final = "all"
"""The receiver of a STOP: every Dendrite with a stake in the trace."""
ORCHESTRATOR: Final = "orchestrator"

_SENDER_KEYS: Final = ("sender", "dendrite", "source", "node")
_REPLIES: Final = frozenset({SignalType.AGENT_OUTPUT, SignalType.ERROR, SignalType.TOOL_RESULT})
_ENGRAM_REQUESTS: Final = frozenset({SignalType.IMPRINT, SignalType.RECALL})
_ENGRAM_REPLIES: Final = frozenset({SignalType.IMPRINTED, SignalType.RECALLED})
_MEMBERSHIP: Final = frozenset({SignalType.REGISTER, SignalType.DEREGISTER, SignalType.HEARTBEAT})


class Route(NamedTuple):
    """The two ends of one Signal, as names (never empty)."""

    sender: str
    receiver: str


class _Parent(NamedTuple):
    type: SignalType
    route: Route


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _known(name: str) -> str | None:
    """``name`` unless it is one of the placeholders."""
    return None if name in (UNKNOWN, ANYONE, ALL) else name


def _first(*names: str | None) -> str | None:
    for name in names:
        if name:
            return name
    return None


def _route(signal: Signal, parent: _Parent | None) -> Route:
    meta = signal.meta
    payload = signal.payload
    directed = signal.directed
    target = _name(directed.id) if directed is not None else None
    kind = _name(directed.type) if directed is not None else None
    caps = (
        "caps:" + ",".join(directed.capabilities)
        if directed is not None and directed.capabilities
        else None
    )
    sender = _first(*(_name(meta.get(key)) for key in _SENDER_KEYS))
    actor = parent_sender = worker = None
    if parent is not None:
        parent_sender = _known(parent.route.sender)
        if parent.type is SignalType.TASK:
            worker = _known(parent.route.receiver)
        actor = worker if parent.type is SignalType.TASK else parent_sender
    # A reply's receiver: the parent's sender; "?" when the parent was not seen, "*" when
    # the Signal has no parent at all (it speaks to the whole trace).
    replied_to = parent_sender or (ANYONE if signal.parent_id is None else UNKNOWN)

    kind_of = signal.type
    if kind_of is SignalType.TASK:
        origin = _first(_name(meta.get("caller")), sender, actor) or ORCHESTRATOR
        receiver = _first(target, caps) or ANYONE
    elif kind_of in _REPLIES:
        origin = _first(target, worker, sender) or UNKNOWN
        receiver = replied_to
    elif kind_of is SignalType.FINAL:
        origin = _first(target, sender, parent_sender) or ORCHESTRATOR
        receiver = ANYONE
    elif kind_of in _ENGRAM_REQUESTS:
        origin = _first(_name(meta.get("neuron")), actor, sender) or UNKNOWN
        receiver = _first(target, kind) or ANYONE
    elif kind_of in _ENGRAM_REPLIES:
        origin = _first(target, _name(payload.get("engram_id")), sender) or UNKNOWN
        receiver = replied_to
    elif kind_of is SignalType.STOP:
        origin = _first(target, sender) or ORCHESTRATOR
        receiver = ALL
    elif kind_of is SignalType.STOPPED:
        origin = _first(_name(payload.get("node")), sender, target) or UNKNOWN
        receiver = replied_to
    elif kind_of in _MEMBERSHIP:
        origin = _first(_name(meta.get("node")), target) or UNKNOWN
        receiver = ANYONE
    else:
        origin = _first(sender, actor) or UNKNOWN
        receiver = _first(target, caps) or ANYONE
    return Route(origin, receiver)


def route_of(
    signal: Signal, parent: Signal | None = None, *, parent_route: Route | None = None
) -> Route:
    """``(sender, receiver)`` of ``signal``, read from it and, when given, from its
    ``parent`` (the Signal its ``parent_id`` names); see the module docstring for the
    rule. ``parent_route`` is the parent's own route when the caller already knows it
    (it may depend on the grandparent); otherwise it is computed from ``parent`` alone.
    """
    if parent is None:
        return _route(signal, None)
    known = parent_route if parent_route is not None else _route(parent, None)
    return _route(signal, _Parent(parent.type, known))


class RouteCache:
    """The routes of the last ``size`` Signals seen, so that each new Signal's route can
    use its parent's. Holds two names and a type per Signal, never a payload.

    :meth:`route` computes a Signal's route (from its parent's when remembered) and
    remembers it; call it for every Signal of the stream, in arrival order, including
    those a viewer filters out, or their replies lose their parent.
    """

    __slots__ = ("_seen", "size")

    def __init__(self, size: int = 4096) -> None:
        if size < 1:
            raise ValueError("a RouteCache needs room for at least one Signal")
        self.size = size
        self._seen: OrderedDict[str, _Parent] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, signal_id: object) -> bool:
        return signal_id in self._seen

    def get(self, signal_id: str) -> Route | None:
        """The remembered route of the Signal ``signal_id``, or None."""
        known = self._seen.get(signal_id)
        return known.route if known is not None else None

    def route(self, signal: Signal) -> Route:
        """The route of ``signal``; remembers it for the Signals that answer it."""
        seen = self._seen
        known = seen.get(signal.id)
        if known is not None:  # the same Signal again (a duplicate delivery)
            return known.route
        parent = seen.get(signal.parent_id) if signal.parent_id is not None else None
        found = _route(signal, parent)
        seen[signal.id] = _Parent(signal.type, found)
        if len(seen) > self.size:
            seen.popitem(last=False)
        return found
