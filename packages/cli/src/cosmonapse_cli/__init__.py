"""The cosmo command-line tool."""

__version__ = "0.2.0"
