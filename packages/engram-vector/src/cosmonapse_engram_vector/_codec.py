"""How a VectorEngram entry is stored in its SQLite file (docs/engrams.md): the fields as
JSON, and a blob of one flag byte (1: the vector came from ``embed(text)``) followed by the
unit float32 row, so a restart restores the very same bits."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from ._vectors import StoredVector

__all__ = ["VectorCodec"]


class VectorCodec:
    """The :class:`cosmonapse.engram_store.EntryCodec` of a VectorEngram."""

    def encode(self, entry: dict[str, Any]) -> tuple[bytes, bytes | None]:
        stored = entry.get("embedding")
        if not isinstance(stored, StoredVector):
            raise TypeError("a VectorEngram entry to store needs its StoredVector")
        fields = {k: v for k, v in entry.items() if k != "embedding"}
        flag = b"\x01" if stored.source_text is not None else b"\x00"
        return orjson.dumps(fields), flag + stored.unit.astype("<f4").tobytes()

    def decode(self, body: bytes, blob: bytes | None) -> dict[str, Any]:
        fields = orjson.loads(body)
        if not isinstance(fields, dict):
            raise ValueError(f"entry fields must be a JSON object, found {type(fields).__name__}")
        if blob is None or len(blob) < 5 or (len(blob) - 1) % 4 or blob[0] not in (0, 1):
            raise ValueError("the stored vector is missing or malformed")
        unit = np.frombuffer(blob, dtype="<f4", offset=1).astype(np.float32)
        source = fields.get("text") if blob[0] == 1 else None
        return {
            **fields,
            "embedding": StoredVector(unit, source if isinstance(source, str) else None),
        }
