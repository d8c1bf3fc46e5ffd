"""What a Neuron learns about the TASK it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .signal import Signal

__all__ = ["NeuronContext"]


@dataclass(slots=True, frozen=True)
class NeuronContext:
    """The second argument of every Neuron.

    ``task`` is the TASK Signal itself; the other fields are shortcuts to what most
    Neurons need. ``attempt`` is ``task.meta["attempt"]`` (1 when absent). ``node`` is
    the id of the Dendrite running the Neuron (None when the Axon runs unattached).
    :meth:`report_tokens` reports token use (``usage``) for the reply's ``meta.tokens``.
    """

    task: Signal
    neuron_id: str
    node: str | None = None
    namespace: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)

    def report_tokens(self, tokens: int) -> None:
        """Count ``tokens`` (e.g. an LLM call's prompt + completion) against this run: the
        reply carries the total in ``meta.tokens``, and it counts toward the trace's
        ``TraceBudget.max_tokens``."""
        if type(tokens) is not int or tokens < 0:
            raise ValueError(f"tokens must be a non-negative int, got {tokens!r}")
        self.usage["tokens"] = self.usage.get("tokens", 0) + tokens

    @property
    def trace_id(self) -> str:
        return self.task.trace_id

    @property
    def attempt(self) -> int:
        attempt = self.task.meta.get("attempt", 1)
        return attempt if isinstance(attempt, int) and not isinstance(attempt, bool) else 1

    def __getitem__(self, key: str) -> Any:
        """Dict-style access (``context["trace_id"]``) for Neurons written that way."""
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default
