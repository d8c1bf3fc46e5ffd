"""Deprecations: the one warning category of this library's renamed or retired calls."""

from __future__ import annotations

import warnings

__all__ = ["CosmonapseDeprecationWarning", "warn_deprecated"]


class CosmonapseDeprecationWarning(DeprecationWarning):
    """A call of this library that still works but is deprecated; the message names what
    to use instead. Filter on this category to silence (or to fail on) only ours."""


def warn_deprecated(message: str, *, stacklevel: int = 2) -> None:
    """Warn that the caller's caller used a deprecated form (``stacklevel`` counts from
    the function that calls this one, as :func:`warnings.warn` does)."""
    warnings.warn(message, CosmonapseDeprecationWarning, stacklevel=stacklevel + 1)
