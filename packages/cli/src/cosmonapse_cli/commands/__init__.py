"""The built-in ``cosmo`` commands, one module each."""
