"""Bounds on one trace's tree of TASKs (docs/protocol.md section 6, "Delegation").

A Neuron may delegate, and the agents it calls may delegate again; a :class:`TraceBudget`
keeps a loop of agents calling each other from running away. Past a bound the trace is
STOPped everywhere with a reason that names it, and the waits on it raise
:class:`~cosmonapse.TraceBudgetExceededError`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["TraceBudget"]


@dataclass(frozen=True, slots=True)
class TraceBudget:
    """The bounds of one trace.

    - ``max_depth``: how deep delegation may nest (a root TASK is depth 0, the TASKs it
      delegates depth 1, ...). Default 8.
    - ``max_tasks``: TASKs in the trace, root included. Default 256.
    - ``max_tokens``: tokens the trace's Neurons may report (``context.report_tokens``),
      summed over the whole tree; None (the default) sets no bound.

    A root TASK carries its budget in ``meta.budget`` when it is not the default, and each
    delegated TASK carries its parent's.
    """

    max_depth: int = 8
    max_tasks: int = 256
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.max_depth < 0:
            raise ValueError("max_depth must be >= 0 (0: no delegation at all)")
        if self.max_tasks < 1:
            raise ValueError("max_tasks must be at least 1")
        if self.max_tokens is not None and self.max_tokens < 0:
            raise ValueError("max_tokens must be >= 0 or None")

    def to_meta(self) -> dict[str, Any]:
        """The budget as ``meta.budget`` carries it."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_meta(cls, raw: Any, default: TraceBudget) -> TraceBudget:
        """The budget a TASK's ``meta.budget`` names; ``default`` for what it leaves out
        (or for a value that is not a valid budget)."""
        if not isinstance(raw, dict):
            return default
        values: dict[str, Any] = asdict(default)
        for key in ("max_depth", "max_tasks", "max_tokens"):
            value = raw.get(key)
            if type(value) is int:
                values[key] = value
        try:
            return cls(**values)
        except ValueError:
            return default


DEFAULT_BUDGET = TraceBudget()
