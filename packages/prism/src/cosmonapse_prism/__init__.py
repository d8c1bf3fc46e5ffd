"""Prism: the live browser view of a Cosmonapse synapse."""

__version__ = "0.2.0"
__all__: list[str] = []
