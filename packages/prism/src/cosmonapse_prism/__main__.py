"""``python -m cosmonapse_prism --url cosmo://127.0.0.1:7070 -n NAMESPACE``."""

import typer

from .cli import command

if __name__ == "__main__":
    typer.run(command)
