"""The Hugging Face Neuron for Cosmonapse."""

__version__ = "0.2.0"
__all__: list[str] = []
