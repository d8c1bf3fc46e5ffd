"""Shared fixtures for the VectorEngram tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cosmonapse_engram_vector import VectorEngram

Embed = Callable[[str], list[float]]


def _fake_embed(text: str) -> list[float]:
    # The resilience walkthrough's deterministic 16-dim embedding.
    vec = [0.0] * 16
    for ch in text.lower():
        vec[ord(ch) % 16] += 1.0
    norm = sum(v * v for v in vec) ** 0.5 or 1.0
    return [v / norm for v in vec]


@pytest.fixture
def fake_embed() -> Embed:
    return _fake_embed


@pytest.fixture
def engram() -> VectorEngram:
    return VectorEngram(engram_id="vectors", engram_kind="semantic")


@pytest.fixture
def embedded() -> VectorEngram:
    return VectorEngram(engram_id="texts", embed=_fake_embed)
