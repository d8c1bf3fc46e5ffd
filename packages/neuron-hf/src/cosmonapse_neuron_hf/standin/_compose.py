"""Deterministic answers: the same prompt always gets the same one-line reply.

A "token" here is a whitespace-separated word; that is rough, and enough to make
``max_tokens`` cut answers short and ``usage`` count something real.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Composition", "compose", "count_tokens"]

# A few topics get a hand-written line (the quickstart asks about these four).
_LINES: dict[str, str] = {
    "sun": "Morning gold climbs the hill, and every shadow learns its name.",
    "moon": "A quiet silver coin, spent slowly on the sleeping tide.",
    "sea": "Salt and patience: the sea keeps rewriting the same grey stone.",
    "wind": "Unseen hands comb the barley and carry the gulls back home.",
    "rain": "Small drums on the roof count down the thirsty afternoon.",
    "star": "Old light arrives late, still keeping its promise to the dark.",
}

_OPENINGS = ("Softly", "Slowly", "At dusk", "Unasked", "Again", "Beneath it all")
_VERBS = ("remembers", "unfolds", "listens to", "outlasts", "carries", "answers")
_ENDINGS = (
    "the hush before the first word",
    "a door left open to the morning",
    "the long patience of stone",
    "a map drawn in falling leaves",
    "the echo of an unsung tune",
    "the quiet that follows rain",
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


@dataclass(frozen=True, slots=True)
class Composition:
    """One answer: its text, why it ended, and its token count."""

    text: str
    finish: str  # "stop", "length" or "stop_sequence"
    tokens: int


def count_tokens(text: str) -> int:
    """The stand-in's token count of ``text``: its whitespace-separated words."""
    return len(text.split())


def _line_for(prompt: str) -> str:
    words = [w.lower() for w in _WORD.findall(prompt)]
    # The last known topic wins, so a chat transcript answers its latest question.
    for word in reversed(words):
        stem = word[:-1] if word.endswith("s") and word[:-1] in _LINES else word
        if stem in _LINES:
            return _LINES[stem]
    digest = hashlib.sha256(prompt.encode("utf-8", "replace")).digest()
    subject = next((w for w in reversed(words) if len(w) > 2), "silence")[:24]
    return (
        f"{_OPENINGS[digest[0] % len(_OPENINGS)]}, {subject} "
        f"{_VERBS[digest[1] % len(_VERBS)]} {_ENDINGS[digest[2] % len(_ENDINGS)]}."
    )


def compose(prompt: str, *, max_tokens: int | None, stop: Sequence[str] = ()) -> Composition:
    """The reply to ``prompt``, cut at the first ``stop`` string and at ``max_tokens`` words."""
    text = _line_for(prompt)
    finish = "stop"
    for marker in stop:
        at = text.find(marker) if marker else -1
        if at >= 0:
            text, finish = text[:at], "stop_sequence"
    words = text.split()
    if max_tokens is not None and len(words) > max_tokens:
        words, finish = words[: max(max_tokens, 0)], "length"
        text = " ".join(words)
    return Composition(text=text, finish=finish, tokens=len(words))
