"""Write ops, stored fields, dimension fixing, text embedding and the shape of hits."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from cosmonapse.engram import Hit
from cosmonapse_engram_vector import VectorEngram

Embed = Callable[[str], list[float]]


def test_add_stores_fields_and_recall_returns_them_without_the_embedding(
    engram: VectorEngram,
) -> None:
    result = engram.imprint(
        op="add", entry={"doc_id": "a", "chunk_index": 0, "text": "hi", "embedding": [3, 4]}
    )
    assert result.op == "add" and result.id is not None and result.version == 1
    assert len(engram) == 1 and engram.dim == 2
    [hit] = engram.recall({"embedding": [3, 4]})
    assert isinstance(hit, Hit)
    assert hit.id == result.id
    assert hit.entry == {"doc_id": "a", "chunk_index": 0, "text": "hi"}
    assert type(hit.score) is float and math.isclose(hit.score, 1.0, abs_tol=1e-6)


def test_include_embedding_returns_the_stored_unit_vector(engram: VectorEngram) -> None:
    engram.imprint(op="add", entry={"embedding": [3, 4]})
    [hit] = engram.recall({"embedding": [1, 1], "include_embedding": True})
    assert hit.entry["embedding"] == [np.float32(0.6).item(), np.float32(0.8).item()]
    assert all(type(v) is float for v in hit.entry["embedding"])


def test_hit_entries_are_copies(engram: VectorEngram) -> None:
    engram.imprint(op="add", entry={"tag": "x", "embedding": [1, 0]})
    engram.recall({"embedding": [1, 0]})[0].entry["tag"] = "changed"
    assert engram.recall({"embedding": [1, 0]})[0].entry["tag"] == "x"


def test_given_id_is_kept_and_append_is_add(engram: VectorEngram) -> None:
    assert engram.imprint(op="add", entry={"id": "doc-1", "embedding": [1, 0]}).id == "doc-1"
    appended = engram.imprint(op="append", entry={"embedding": [0, 1]}).id
    assert appended is not None and appended.startswith("ent_")
    assert [h.id for h in engram.recall({"embedding": [1, 0.1]})] == ["doc-1", appended]


def test_upsert_replaces_by_merge_key(engram: VectorEngram) -> None:
    first = engram.imprint(op="upsert", entry={"v": 1, "embedding": [1, 0]}, merge_key="k")
    second = engram.imprint(op="upsert", entry={"w": 2, "embedding": [0, 1]}, merge_key="k")
    assert first.id == second.id and len(engram) == 1
    [hit] = engram.recall({"embedding": [0, 1]})
    assert hit.entry == {"w": 2} and math.isclose(hit.score, 1.0, abs_tol=1e-6)


def test_merge_keeps_the_vector_and_other_fields(engram: VectorEngram) -> None:
    engram.imprint(op="merge", entry={"a": 1, "embedding": [1, 2]}, merge_key="k")
    engram.imprint(op="merge", entry={"b": 2}, merge_key="k")
    [hit] = engram.recall({"embedding": [1, 2]})
    assert hit.entry == {"a": 1, "b": 2} and math.isclose(hit.score, 1.0, abs_tol=1e-6)


def test_merge_with_a_new_embedding_moves_the_entry(engram: VectorEngram) -> None:
    engram.imprint(op="merge", entry={"a": 1, "embedding": [1, 0]}, merge_key="k")
    engram.imprint(op="merge", entry={"embedding": [0, 1]}, merge_key="k")
    [hit] = engram.recall({"embedding": [0, 1]})
    assert hit.entry == {"a": 1} and math.isclose(hit.score, 1.0, abs_tol=1e-6)


def test_delete_by_id_and_by_merge_key(engram: VectorEngram) -> None:
    a = engram.imprint(op="add", entry={"embedding": [1, 0]}).id
    engram.imprint(op="upsert", entry={"embedding": [0, 1]}, merge_key="k")
    assert engram.imprint(op="delete", entry={"id": a}).id == a
    assert engram.imprint(op="delete", merge_key="k").id is not None
    assert len(engram) == 0
    assert engram.recall({"embedding": [1, 0]}) == []
    assert engram.imprint(op="delete", entry={"id": a}).id is None  # already gone


def test_imprint_id_makes_a_write_idempotent(engram: VectorEngram) -> None:
    first = engram.imprint(op="add", entry={"embedding": [1, 0]}, imprint_id="imp-1")
    again = engram.imprint(op="add", entry={"embedding": [1, 0]}, imprint_id="imp-1")
    assert again == first and len(engram) == 1


def test_dim_given_up_front_is_enforced_from_the_first_entry() -> None:
    engram = VectorEngram(engram_id="v", dim=3)
    assert engram.dim == 3 and engram.capacity == 0
    engram.imprint(op="add", entry={"embedding": [1, 2, 3]})
    assert engram.dim == 3 and engram.capacity >= 1


def test_dim_stays_fixed_after_the_store_empties(engram: VectorEngram) -> None:
    entry_id = engram.imprint(op="add", entry={"embedding": [1, 2, 3]}).id
    engram.imprint(op="delete", entry={"id": entry_id})
    assert len(engram) == 0 and engram.dim == 3


def test_numpy_arrays_and_tuples_and_ints_are_accepted(engram: VectorEngram) -> None:
    engram.imprint(op="add", entry={"id": "np", "embedding": np.array([1.0, 2.0])})
    engram.imprint(op="add", entry={"id": "tuple", "embedding": (2, 1)})
    engram.imprint(op="add", entry={"id": "np32", "embedding": [np.float32(0.5), np.int64(3)]})
    hits = engram.recall({"embedding": np.array([1, 2], dtype=np.int32)})
    assert [h.id for h in hits] == ["np", "np32", "tuple"]


def test_scale_does_not_matter_including_extreme_magnitudes(engram: VectorEngram) -> None:
    engram.imprint(op="add", entry={"id": "huge", "embedding": [1e300, 1e300]})
    engram.imprint(op="add", entry={"id": "tiny", "embedding": [1e-300, -1e-300]})
    huge, tiny = engram.recall({"embedding": [1, 1]})
    assert huge.id == "huge" and math.isclose(huge.score, 1.0, abs_tol=1e-6)
    assert tiny.id == "tiny" and math.isclose(tiny.score, 0.0, abs_tol=1e-6)


def test_text_is_embedded_for_entries_and_queries(
    embedded: VectorEngram, fake_embed: Embed
) -> None:
    embedded.imprint(op="add", entry={"id": "cat", "text": "the cat sat"})
    embedded.imprint(op="add", entry={"id": "dog", "text": "a dog barked loudly"})
    assert embedded.dim == 16
    [best, _] = embedded.recall({"text": "the cat sat"})
    assert best.id == "cat" and math.isclose(best.score, 1.0, abs_tol=1e-6)
    assert best.entry == {"text": "the cat sat"}
    by_vector = embedded.recall({"embedding": fake_embed("a dog barked loudly"), "top_k": 1})
    assert by_vector[0].id == "dog"


def test_an_explicit_embedding_wins_over_text(embedded: VectorEngram) -> None:
    unit = [0.0] * 16
    unit[5] = 1.0
    embedded.imprint(op="add", entry={"id": "e", "text": "zzz", "embedding": unit})
    [hit] = embedded.recall({"embedding": unit})
    assert math.isclose(hit.score, 1.0, abs_tol=1e-6) and hit.entry == {"text": "zzz"}


def test_merge_that_changes_text_re_embeds_it(embedded: VectorEngram) -> None:
    embedded.imprint(op="merge", entry={"text": "alpha", "n": 1}, merge_key="k")
    embedded.imprint(op="merge", entry={"text": "omega zulu"}, merge_key="k")
    [hit] = embedded.recall({"text": "omega zulu"})
    assert hit.entry == {"text": "omega zulu", "n": 1}
    assert math.isclose(hit.score, 1.0, abs_tol=1e-6)


def test_merge_keeps_a_caller_supplied_vector_when_text_changes(embedded: VectorEngram) -> None:
    unit = [0.0] * 16
    unit[0] = 1.0
    embedded.imprint(op="merge", entry={"text": "alpha", "embedding": unit}, merge_key="k")
    embedded.imprint(op="merge", entry={"text": "omega"}, merge_key="k")
    [hit] = embedded.recall({"embedding": unit})
    assert hit.entry == {"text": "omega"} and math.isclose(hit.score, 1.0, abs_tol=1e-6)


def test_top_k_in_the_query_or_as_an_argument(engram: VectorEngram) -> None:
    for i in range(20):
        engram.imprint(op="add", entry={"embedding": [1.0, i / 10]})
    assert len(engram.recall({"embedding": [1, 0]})) == 10  # the base default
    assert len(engram.recall({"embedding": [1, 0], "top_k": 3})) == 3
    assert len(engram.recall({"embedding": [1, 0]}, top_k=25)) == 20


def test_negative_cosines_score_zero_but_keep_their_order(engram: VectorEngram) -> None:
    engram.imprint(op="add", entry={"id": "a", "embedding": [-1, 0.5]})
    engram.imprint(op="add", entry={"id": "b", "embedding": [-1, 0.1]})
    engram.imprint(op="add", entry={"id": "c", "embedding": [-1, 0.9]})
    hits = engram.recall({"embedding": [0, 1]})
    assert [h.id for h in hits] == ["c", "a", "b"]
    hits = engram.recall({"embedding": [0, -1]})
    assert [h.id for h in hits] == ["b", "a", "c"]
    assert all(h.score == 0.0 for h in hits)


def test_recall_on_an_empty_engram(engram: VectorEngram) -> None:
    assert engram.recall({"embedding": [1, 2, 3]}) == []
    assert engram.recall({"embedding": [1]}, filters={"x": 1}, min_confidence=0.5) == []


def test_repr_names_the_engram(engram: VectorEngram) -> None:
    engram.imprint(op="add", entry={"embedding": [1]})
    assert repr(engram) == "<VectorEngram id='vectors' kind='semantic' entries=1>"
