"""The public surface: ``__all__``, the constructor, the entry point, the example re-export."""

from __future__ import annotations

import inspect
import sys
from importlib.metadata import entry_points
from pathlib import Path

import cosmonapse_engram_vector
import pytest
from cosmonapse._plugins import ENGRAMS, load
from cosmonapse.engram import Engram
from cosmonapse_engram_vector import VectorEngram

REPO = Path(__file__).resolve().parents[3]


def test_public_api_is_pinned() -> None:
    assert cosmonapse_engram_vector.__all__ == ["EmbedFunction", "VectorEngram"]
    assert cosmonapse_engram_vector.__version__ == "0.2.0"
    assert issubclass(VectorEngram, Engram)
    public = {name for name in vars(VectorEngram) if not name.startswith("_")}
    assert public == {"engram_kind", "dim", "capacity", "backup", "close"}
    assert VectorEngram.engram_kind == "semantic"


def test_constructor_signature_is_pinned() -> None:
    params = inspect.signature(VectorEngram).parameters
    assert [(p.name, p.kind.name, p.default) for p in params.values()] == [
        ("engram_id", "POSITIONAL_OR_KEYWORD", inspect.Parameter.empty),
        ("engram_kind", "POSITIONAL_OR_KEYWORD", "semantic"),
        ("dim", "KEYWORD_ONLY", None),
        ("embed", "KEYWORD_ONLY", None),
        ("initial_capacity", "KEYWORD_ONLY", 1024),
        ("path", "KEYWORD_ONLY", None),
        ("sync", "KEYWORD_ONLY", "full"),
        ("max_size_bytes", "KEYWORD_ONLY", None),
        ("options", "VAR_KEYWORD", inspect.Parameter.empty),
    ]


def test_base_options_pass_through() -> None:
    engram = VectorEngram(engram_id="v", journal_ttl_s=5.0, max_journals=3, dedup_window=7)
    assert engram.journal_ttl_s == 5.0 and engram.max_journals == 3
    assert engram.engram_id == "v" and engram.engram_kind == "semantic"
    assert VectorEngram("w", "episodic").engram_kind == "episodic"


def test_entry_point_vector_resolves_to_the_class() -> None:
    [ep] = [ep for ep in entry_points(group="cosmonapse.engrams") if ep.name == "vector"]
    assert ep.value == "cosmonapse_engram_vector:VectorEngram"
    assert ep.dist is not None and ep.dist.name == "cosmonapse-engram-vector"
    assert ep.load() is VectorEngram
    assert load(ENGRAMS, "vector") is VectorEngram


def test_the_rag_example_re_exports_the_same_class(monkeypatch: pytest.MonkeyPatch) -> None:
    # Exactly what the resilience walkthrough does from its sibling folder.
    monkeypatch.syspath_prepend(str(REPO / "examples" / "11-rag"))
    sys.modules.pop("vector_engram", None)
    try:
        from vector_engram import VectorEngram as FromExample  # type: ignore[import-not-found]
    finally:
        sys.modules.pop("vector_engram", None)
    assert FromExample is VectorEngram
