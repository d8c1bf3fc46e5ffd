"""Every bad input gets an EngramError that names the problem, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from cosmonapse import EngramError
from cosmonapse_engram_vector import VectorEngram

Embed = Callable[[str], list[float]]

BAD_ENTRIES: list[tuple[dict[str, Any], str]] = [
    ({}, "needs an 'embedding'"),
    ({"doc_id": "x"}, "needs an 'embedding'"),
    ({"embedding": None}, "needs an 'embedding'"),
    ({"embedding": []}, "'embedding' is empty"),
    ({"embedding": np.array([])}, "'embedding' is empty"),
    ({"embedding": [1.0, float("nan"), 2.0]}, "contains NaN at index 1"),
    ({"embedding": [float("inf"), 1.0]}, "contains infinity at index 0"),
    ({"embedding": [1.0, float("-inf")]}, "contains infinity at index 1"),
    ({"embedding": [0, 0.0, 0]}, "all zeros"),
    ({"embedding": "0.1,0.2"}, "must be a list of numbers, got str"),
    ({"embedding": 0.5}, "must be a list of numbers, got float"),
    ({"embedding": {"x": 1}}, "must be a list of numbers, got dict"),
    ({"embedding": [1.0, "2"]}, "index 1 is a str ('2')"),
    ({"embedding": [1.0, None]}, "index 1 is null (a NaN or infinity becomes null"),
    ({"embedding": [1.0, True]}, "index 1 is a bool"),
    ({"embedding": [[1.0, 2.0], [3.0, 4.0]]}, "index 0 is a list"),
    ({"embedding": [1.0, 2j]}, "index 1 is a complex"),
    ({"embedding": np.ones((2, 2))}, "flat list of numbers, got an array of shape (2, 2)"),
    ({"embedding": np.array(["a", "b"])}, "must hold numbers, got an array of dtype <U1"),
    ({"embedding": np.array([True, False])}, "must hold numbers, got an array of dtype bool"),
    ({"embedding": [10**400, 1]}, "could not be read as numbers"),
    ({"text": "no embed function here"}, "has no embed function"),
]


@pytest.mark.parametrize("entry,message", BAD_ENTRIES)
def test_bad_entries_are_refused(engram: VectorEngram, entry: dict[str, Any], message: str) -> None:
    with pytest.raises(EngramError) as caught:
        engram.imprint(op="add", entry=entry)
    assert message in str(caught.value)
    assert len(engram) == 0 and engram.version == 0 and engram.dim is None


def test_dimension_mismatch_names_both_sizes(engram: VectorEngram) -> None:
    engram.imprint(op="add", entry={"embedding": [1, 2, 3]})
    with pytest.raises(EngramError, match=r"entry 'embedding' has 2 dimensions, expected 3"):
        engram.imprint(op="add", entry={"embedding": [1, 2]})
    fixed = VectorEngram(engram_id="v", dim=4)
    with pytest.raises(EngramError, match=r"has 3 dimensions, expected 4"):
        fixed.imprint(op="add", entry={"embedding": [1, 2, 3]})
    assert len(fixed) == 0 and fixed.capacity == 0


def test_a_refused_upsert_leaves_the_old_entry_intact(engram: VectorEngram) -> None:
    engram.imprint(op="upsert", entry={"v": 1, "embedding": [1, 0]}, merge_key="k", trace_id="t")
    with pytest.raises(EngramError, match="NaN"):
        engram.imprint(
            op="upsert", entry={"v": 2, "embedding": [float("nan"), 0]}, merge_key="k", trace_id="t"
        )
    [hit] = engram.recall({"embedding": [1, 0]})
    assert hit.entry == {"v": 1}
    assert engram.journal_size("t") == 1  # the refused write journaled nothing


def test_upsert_without_a_vector_does_not_inherit_the_old_one(engram: VectorEngram) -> None:
    engram.imprint(op="upsert", entry={"embedding": [1, 0]}, merge_key="k")
    with pytest.raises(EngramError, match="needs an 'embedding'"):
        engram.imprint(op="upsert", entry={"v": 2}, merge_key="k")


def test_text_that_is_not_a_string(embedded: VectorEngram) -> None:
    with pytest.raises(EngramError, match=r"entry 'text' must be a string, got int"):
        embedded.imprint(op="add", entry={"text": 42})


def test_embed_failures_become_engram_errors() -> None:
    def broken(text: str) -> list[float]:
        raise RuntimeError("model not loaded")

    engram = VectorEngram(engram_id="v", embed=broken)
    with pytest.raises(EngramError, match=r"embed\(\) failed on the entry text: RuntimeError"):
        engram.imprint(op="add", entry={"text": "hello"})
    with pytest.raises(EngramError, match=r"embed\(\) failed on the query text"):
        engram.recall({"text": "hello"})


@pytest.mark.parametrize(
    "returned,message",
    [
        ([1.0, float("nan")], "embed() result for the entry text contains NaN at index 1"),
        ([], "embed() result for the entry text is empty"),
        ("vector", "embed() result for the entry text must be a list of numbers, got str"),
        (None, "must be a list of numbers, got NoneType"),
        ([0.5, None], "embed() result for the entry text must hold only numbers; index 1 is null"),
    ],
)
def test_bad_embed_results_are_refused(returned: Any, message: str) -> None:
    engram = VectorEngram(engram_id="v", embed=lambda text: returned)
    with pytest.raises(EngramError) as caught:
        engram.imprint(op="add", entry={"text": "hello"})
    assert message in str(caught.value)


def test_embed_result_of_the_wrong_dimension(fake_embed: Embed) -> None:
    def uneven(text: str) -> list[float]:
        return [1.0, 2.0] if text == "two dims" else fake_embed(text)

    engram = VectorEngram(engram_id="v", embed=uneven)
    engram.imprint(op="add", entry={"text": "sixteen dims"})
    with pytest.raises(EngramError, match=r"embed\(\) result .* has 2 dimensions, expected 16"):
        engram.imprint(op="add", entry={"text": "two dims"})


BAD_QUERIES: list[tuple[dict[str, Any], str]] = [
    ({}, "query needs an 'embedding'"),
    ({"embedding": None}, "query needs an 'embedding'"),
    ({"embedding": []}, "query 'embedding' is empty"),
    ({"embedding": [1.0, float("nan"), 0.0]}, "query 'embedding' contains NaN at index 1"),
    ({"embedding": [0, 0, 0]}, "query 'embedding' is all zeros"),
    ({"embedding": [1, 2]}, "query 'embedding' has 2 dimensions, expected 3"),
    ({"embedding": ["a", 1, 2]}, "index 0 is a str"),
    ({"text": "what is a Dendrite?"}, "has no embed function"),
    ({"embedding": [1, 2, 3], "doc_id": "x"}, "unknown query key(s) doc_id"),
    ({"embedding": [1, 2, 3], "include_embedding": "yes"}, "'include_embedding' must be true"),
]


@pytest.mark.parametrize("query,message", BAD_QUERIES)
def test_bad_queries_are_refused(engram: VectorEngram, query: dict[str, Any], message: str) -> None:
    engram.imprint(op="add", entry={"embedding": [1, 2, 3]})
    with pytest.raises(EngramError) as caught:
        engram.recall(query)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"min_confidence": "high"}, "min_confidence must be a number, got str"),
        ({"min_confidence": True}, "min_confidence must be a number, got bool"),
        ({"min_confidence": float("nan")}, "min_confidence must be a number, got NaN"),
        ({"filters": {"embedding": [1, 2, 3]}}, "filters cannot test 'embedding'"),
        ({"filters": ["color"]}, "filters must be an object"),
        ({"top_k": 0}, "top_k must be a positive integer"),
    ],
)
def test_bad_recall_options_are_refused(
    engram: VectorEngram, kwargs: dict[str, Any], message: str
) -> None:
    engram.imprint(op="add", entry={"embedding": [1, 2, 3]})
    with pytest.raises(EngramError) as caught:
        engram.recall({"embedding": [1, 2, 3]}, **kwargs)
    assert message in str(caught.value)


def test_queries_are_validated_even_when_the_engram_is_empty(engram: VectorEngram) -> None:
    with pytest.raises(EngramError, match="NaN"):
        engram.recall({"embedding": [float("nan")]})


@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"dim": 0}, ValueError),
        ({"dim": True}, ValueError),
        ({"dim": 2.5}, ValueError),
        ({"embed": "not callable"}, TypeError),
        ({"initial_capacity": 0}, ValueError),
        ({"journal_ttl_s": 0}, ValueError),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        VectorEngram(engram_id="v", **kwargs)
