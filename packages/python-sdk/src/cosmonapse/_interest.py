"""The frames a Dendrite passes over without decoding: TASKs and replies of its namespace
that are for its other participants.

In one namespace every TASK reaches every host and every reply every caller (each type
has one subject and no queue group, docs/protocol.md section 3), so with W processes
each one decodes W times the frames it acts on. :class:`Interest` looks at a frame's
bytes, or at a snapshot's envelope, before it is decoded, and skips it when it provably
concerns nobody here:

* a TASK on the namespace's TASK subject that is addressed (``"directed"``) but names none
  of the hosted Axons: the bytes of a TASK for Neuron ``n`` hold ``"n"`` (for ids of
  :data:`~cosmonapse._frame_peek.PLAIN_ID` characters, which no JSON encoder escapes; with
  another id every TASK is decoded);
* an AGENT_OUTPUT or ERROR whose ``parent_id`` is a well-formed Signal id no wait here
  is for (an ERROR with no parent, which ends every wait on its trace, is decoded).

Nothing is skipped while a user handler takes that type or a trace's budget is counted
here (every TASK and reply of it counts). A skipped frame is counted in
``counters["skipped"]``: it is neither received nor judged (a malformed frame addressed
to another participant is that participant's ``bad_frames``; one addressed to nobody, or
not JSON at all, is everyone's).
"""

from __future__ import annotations

from collections.abc import Callable

from ._delegation import Delegation
from ._frame_peek import NOT_READ, first_parent_id, holds_key_once
from ._handlers import HandlerRegistry
from ._hosting import Hosting
from ._id_forms import is_event_id
from ._snapshot import SignalSnapshot
from ._waiters import ReplyWaiters
from .signal import SignalType
from .synapses.base import Parcel

Skip = Callable[[bytes | Parcel], bool]

_DIRECTED = b'"directed"'


class Interest:
    """Which frames of the namespace's TASK and reply subjects this Dendrite can skip.

    Each test settles the common case first, a frame this Dendrite acts on, in a few
    operations: it is paid for every frame.
    """

    __slots__ = ("_axons", "_handlers", "_hosting", "_tallies", "_waits")

    def __init__(
        self,
        hosting: Hosting,
        replies: ReplyWaiters,
        handlers: HandlerRegistry,
        delegation: Delegation,
    ) -> None:
        self._hosting = hosting
        self._axons = hosting.axons
        self._waits = replies.by_task
        self._handlers = handlers.by_type
        self._tallies = delegation.tallies

    def skip_task(self, data: bytes | Parcel) -> bool:
        """True when the TASK in ``data`` is for no Axon hosted here."""
        kind = type(data)
        if kind is SignalSnapshot:
            if data.neuron in self._axons:  # type: ignore[union-attr]
                return False
        elif kind is bytes:
            needles = self._hosting.needles
            if needles is None or _DIRECTED not in data:  # type: ignore[operator]
                return False  # a frame addressed to nobody is judged (and counted) here
            for needle in needles:  # a loop: all() would cost a generator
                if needle in data:  # type: ignore[operator]
                    return False
        else:
            return False
        return SignalType.TASK not in self._handlers and not self._tallies

    def reply_skipper(self, kind: SignalType) -> Skip:
        """The test for frames on the subject of ``kind`` (AGENT_OUTPUT or ERROR)."""
        waits = self._waits
        handlers = self._handlers
        tallies = self._tallies

        def skip_reply(data: bytes | Parcel) -> bool:
            frame = type(data)
            if frame is SignalSnapshot:
                parent = data.parent_id  # type: ignore[union-attr]
            elif frame is bytes:
                parent = first_parent_id(data)  # type: ignore[arg-type]
                if parent is NOT_READ:
                    return False
            else:
                return False
            if parent is None or parent in waits:
                return False  # the common case, settled on the first read
            return (
                kind not in handlers
                and not tallies
                and is_event_id(parent)
                and (frame is SignalSnapshot or holds_key_once(data))  # type: ignore[arg-type]
            )

        return skip_reply
