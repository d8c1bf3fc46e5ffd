"""The ``echo`` Neuron: a deterministic text transform, optionally recorded in an Engram.

``Neuron(source="echo", transform="title", prefix="> ")`` reaches :func:`create_neuron`
through the ``cosmonapse.neurons`` entry point. The Neuron it returns takes
``{"text": str, "key": str?}`` and answers ``{"text", "transform", "chars"}``; it never
calls out of the process, so the same input always gives the same output.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cosmonapse import NeuronContext, NeuronError

__all__ = ["TRANSFORMS", "EchoNeuron", "create_neuron"]

TRANSFORMS: dict[str, Callable[[str], str]] = {
    "none": lambda text: text,
    "upper": str.upper,
    "lower": str.lower,
    "title": str.title,
    "reverse": lambda text: text[::-1],
    "words": lambda text: " ".join(reversed(text.split(" "))),
}
"""The transforms by name: each is a pure ``str -> str`` function."""

MAX_INPUT_CHARS = 100_000  # a Neuron input travels in one Signal; refuse the absurd early

# The shape of the ``imprint`` helper the Axon injects (cosmonapse's ImprintHelper).
Imprint = Callable[..., Awaitable[dict[str, Any] | None]]


class EchoNeuron:
    """``async (input, context, *, imprint) -> dict``: transform ``input["text"]``.

    Whitespace runs are collapsed to one space first, then ``transform`` is applied, then
    ``prefix`` is prepended, then the result is cut to ``max_chars`` (when set).

    With ``store`` (the name of an ``EngramBinding`` on the Axon) the output is also
    upserted into that Engram as ``{"key": input["key"], "value": <text>}`` under the
    TASK's trace, so a STOP with rollback of the trace undoes it and a FINAL keeps it.

    Raises :class:`~cosmonapse.NeuronError` with code ``BAD_INPUT`` (not recoverable)
    when ``text`` is missing, not a string or too long, or when ``store`` is set and
    ``key`` is not a non-empty string. An Engram that refuses the write or does not
    answer in time surfaces as the core's ``EngramError`` / ``EngramTimeoutError``.
    """

    def __init__(
        self,
        *,
        transform: str = "none",
        prefix: str = "",
        max_chars: int | None = None,
        store: str | None = None,
    ) -> None:
        if transform not in TRANSFORMS:
            known = ", ".join(TRANSFORMS)
            raise ValueError(f"unknown echo transform {transform!r} (expected one of {known})")
        if not isinstance(prefix, str):
            raise TypeError("prefix must be a string")
        if max_chars is not None and (
            not isinstance(max_chars, int) or isinstance(max_chars, bool) or max_chars < 1
        ):
            raise ValueError(f"max_chars must be a positive integer or None, got {max_chars!r}")
        if store is not None and (not isinstance(store, str) or not store):
            raise ValueError("store must be the name of an EngramBinding, or None")
        self.transform = transform
        self.prefix = prefix
        self.max_chars = max_chars
        self.store = store

    def apply(self, text: str) -> str:
        """The text this Neuron answers for ``text`` (a pure function)."""
        out = self.prefix + TRANSFORMS[self.transform](" ".join(text.split()))
        return out if self.max_chars is None else out[: self.max_chars]

    async def __call__(
        self, input: Mapping[str, Any], context: NeuronContext, *, imprint: Imprint
    ) -> dict[str, Any]:
        text = input.get("text")
        if not isinstance(text, str):
            raise NeuronError("input needs a 'text' string", code="BAD_INPUT")
        if len(text) > MAX_INPUT_CHARS:
            raise NeuronError(
                f"input 'text' is {len(text)} characters; the limit is {MAX_INPUT_CHARS}",
                code="BAD_INPUT",
            )
        out = self.apply(text)
        result: dict[str, Any] = {"text": out, "transform": self.transform, "chars": len(out)}
        if self.store is not None:
            key = input.get("key")
            if not isinstance(key, str) or not key:
                raise NeuronError(
                    f"input needs a 'key' string: this echo Neuron stores into {self.store!r}",
                    code="BAD_INPUT",
                )
            # upsert by key: the TASK's trace journals it, so the trace can be rolled back.
            await imprint(self.store, op="upsert", entry={"value": out}, merge_key=key)
            result["stored"] = key
        return result

    def __repr__(self) -> str:
        return f"<EchoNeuron transform={self.transform!r} store={self.store!r}>"


def create_neuron(
    *,
    transform: str = "none",
    prefix: str = "",
    max_chars: int | None = None,
    store: str | None = None,
) -> EchoNeuron:
    """The factory behind ``cosmonapse.Neuron(source="echo", ...)``.

    Takes the options of :class:`EchoNeuron` and returns one. Raises ValueError (or
    TypeError) for a bad option, so a typo fails where the Neuron is built, not on its
    first TASK.
    """
    return EchoNeuron(transform=transform, prefix=prefix, max_chars=max_chars, store=store)
