"""Turning caller-supplied embeddings into unit-length float32 rows.

Everything that enters the matrix or is used as a query passes through :func:`to_unit`, so
there is exactly one place that decides what a valid embedding is and how each rejection is
worded. Messages name the offending field (``what``), the index when one element is at fault,
and the expected dimension when the size is wrong.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from cosmonapse import EngramError

__all__ = ["FloatRow", "StoredVector", "to_unit"]

FloatRow = npt.NDArray[np.float32]

_PREVIEW = 40  # characters of a bad element's repr quoted in an error
# Sums of squares inside this range need no rescaling before the square root.
_SAFE_LOW = 1e-250
_SAFE_HIGH = 1e250


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 3] + "..."


def _as_float64(value: object, what: str) -> npt.NDArray[np.float64]:
    """A fresh float64 copy of ``value``, or EngramError saying why it is not a vector."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise EngramError(
                f"{what} must be a flat list of numbers, got an array of shape {value.shape}"
            )
        if value.dtype.kind not in "iuf":
            raise EngramError(f"{what} must hold numbers, got an array of dtype {value.dtype}")
        return value.astype(np.float64)
    if type(value) is not list and (
        isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Sequence)
    ):
        raise EngramError(f"{what} must be a list of numbers, got {type(value).__name__}")
    # One pass over the distinct element types is far cheaper than one per element, and
    # catches what numpy would silently coerce: bools, numeric strings, None.
    for kind in set(map(type, value)):
        if kind is bool or not issubclass(kind, numbers.Real):
            index = next(i for i, v in enumerate(value) if type(v) is kind)
            if value[index] is None:
                # JSON has no NaN or infinity: the codec sends them as null.
                raise EngramError(
                    f"{what} must hold only numbers; index {index} is null (a NaN or "
                    "infinity becomes null when sent as JSON)"
                )
            raise EngramError(
                f"{what} must hold only numbers; index {index} is a {kind.__name__} "
                f"({_preview(value[index])})"
            )
    try:
        return np.array(value, dtype=np.float64)
    except (OverflowError, ValueError, TypeError) as exc:
        raise EngramError(f"{what} could not be read as numbers: {exc}") from exc


def to_unit(value: object, *, what: str, dim: int | None) -> FloatRow:
    """Validate an embedding and return it scaled to unit length, as float32.

    ``what`` names the value in error messages (``"entry 'embedding'"``, ``"query
    'embedding'"``...). ``dim``, when not None, is the required number of dimensions.

    Accepts a list or tuple of real numbers (ints and floats, numpy scalars included) or a
    1-D numpy array of integer or float dtype. Returns a new contiguous 1-D float32 array
    whose Euclidean norm is 1 up to float32 rounding; the input is never modified.

    Raises :class:`~cosmonapse.EngramError` when the value is not a flat sequence, holds
    anything but numbers (bools, strings and None included), is empty, has the wrong
    number of dimensions, contains NaN or infinity, or is all zeros (cosine similarity
    is undefined for the zero vector).
    """
    raw = _as_float64(value, what)
    if raw.size == 0:
        raise EngramError(f"{what} is empty; it needs at least one number")
    if dim is not None and raw.size != dim:
        raise EngramError(f"{what} has {raw.size} dimensions, expected {dim}")
    # The common case in one dot product: a finite, comfortably scaled vector. NaN, infinity,
    # zero, and magnitudes whose squares overflow or underflow take the careful path.
    with np.errstate(over="ignore", invalid="ignore"):
        squares = float(np.dot(raw, raw))
    if not _SAFE_LOW < squares < _SAFE_HIGH:
        raw = _rescaled(raw, what)
        squares = float(np.dot(raw, raw))
    raw *= 1.0 / math.sqrt(squares)
    return raw.astype(np.float32)


def _rescaled(raw: npt.NDArray[np.float64], what: str) -> npt.NDArray[np.float64]:
    """``raw`` divided by its largest magnitude, or EngramError for NaN, inf, all zeros."""
    finite = np.isfinite(raw)
    if not finite.all():
        index = int(np.argmin(finite))
        name = "NaN" if np.isnan(raw[index]) else "infinity"
        raise EngramError(f"{what} contains {name} at index {index}")
    peak = float(np.max(np.abs(raw)))
    if peak == 0.0:
        raise EngramError(f"{what} is all zeros; cosine similarity needs a non-zero vector")
    raw /= peak
    return raw


class StoredVector:
    """A unit row lifted out of the matrix, with the ``text`` it was embedded from
    (None when the caller supplied the vector itself).

    It only travels between the storage primitives: inside the entries that ``_get`` and
    ``_remove`` return (journal priors, the base of a merge) and back into ``_put``. Keeping
    the exact float32 row means a rollback restores the very same bits, and keeping the
    source text lets a merge that changes ``text`` re-embed it.
    """

    __slots__ = ("source_text", "unit")

    def __init__(self, unit: FloatRow, source_text: str | None) -> None:
        self.unit = unit
        self.source_text = source_text

    def __repr__(self) -> str:
        return f"<stored unit vector dim={self.unit.shape[0]}>"
