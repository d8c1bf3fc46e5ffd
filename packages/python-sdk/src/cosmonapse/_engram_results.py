"""What an Engram answers: :class:`Hit` for a recall, :class:`ImprintResult` for a write.

The same types come back from an Engram called in process (``engram.recall(...)``) and from
the ``recall`` / ``imprint`` helpers of a Neuron, which read them off the RECALLED /
IMPRINTED reply. Both still answer ``result["field"]`` (the dicts the helpers returned
before 0.2) with a DeprecationWarning; read the attributes instead.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from ._deprecation import warn_deprecated

__all__ = ["Hit", "ImprintResult"]


class KeyedRead:
    """The deprecated dict-style read of a result dataclass: ``hit["entry"]`` is
    ``hit.entry``, with a DeprecationWarning pointing at the caller's line."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        kind = type(self).__name__
        if key not in {f.name for f in fields(self)}:  # type: ignore[arg-type]
            raise KeyError(key)
        warn_deprecated(
            f"{kind}[{key!r}] is deprecated: {kind} is a dataclass, read .{key} instead",
            stacklevel=2,
        )
        return getattr(self, key)


@dataclass(slots=True, frozen=True)
class Hit(KeyedRead):
    """One recall result: the entry's ``id``, the ``entry`` itself and a ``score`` in
    ``[0, 1]`` (1.0 for exact matches)."""

    id: str
    entry: dict[str, Any]
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "entry": self.entry, "score": self.score}


@dataclass(slots=True, frozen=True)
class ImprintResult(KeyedRead):
    """What a write did: the entry ``id`` it touched (``None`` when a delete found
    nothing), the Engram ``version`` after it and the ``op`` applied."""

    id: str | None
    version: int
    op: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "op": self.op}
