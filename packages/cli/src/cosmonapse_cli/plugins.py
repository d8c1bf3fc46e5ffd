"""Commands other packages add to ``cosmo`` through the ``cosmonapse.cli`` entry points.

An entry point names a ``typer.Typer`` (mounted as a command group) or a function
(mounted as a command; typer reads its parameters). A plugin that fails to load does
not break ``cosmo``: its name becomes a command that explains the failure and exits 1.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import typer

from .console import err

__all__ = ["GROUP", "load_prism", "mount_plugins"]

GROUP = "cosmonapse.cli"


def _entry_points(group: str) -> list[EntryPoint]:
    seen: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        seen.setdefault(ep.name, ep)  # the first on sys.path wins, as imports do
    return sorted(seen.values(), key=lambda ep: ep.name)


def load_prism(group: str = GROUP) -> Callable[..., Any] | None:
    """The ``prism`` command from the entry points, or None when it is not installed
    (or cannot be imported)."""
    for ep in _entry_points(group):
        if ep.name == "prism":
            try:
                command = ep.load()
            except ImportError:
                return None
            return command if callable(command) else None
    return None


def _broken(name: str, reason: str) -> Callable[..., None]:
    def command() -> None:
        err(f"the {name!r} command is installed but cannot load: {reason}")
        raise typer.Exit(1)

    command.__doc__ = f"(cannot load: {reason})"
    return command


def _check_mountable(name: str, obj: Any) -> None:
    """Raise unless typer can build a command from ``obj`` (tried on a scratch app, so a
    bad signature never breaks the real one)."""
    probe = typer.Typer()
    if isinstance(obj, typer.Typer):
        probe.add_typer(obj, name=name)
    else:
        probe.command(name)(obj)
    typer.main.get_command(probe)


def mount_plugins(app: typer.Typer, *, reserved: frozenset[str], group: str = GROUP) -> list[str]:
    """Mount every entry point of ``group`` on ``app`` except ``reserved`` names;
    returns the names mounted."""
    mounted: list[str] = []
    for ep in _entry_points(group):
        if ep.name in reserved:
            continue
        try:
            obj = ep.load()
            if not (isinstance(obj, typer.Typer) or callable(obj)):
                raise TypeError(f"{ep.value} is neither a typer.Typer nor a function")
            _check_mountable(ep.name, obj)
        except Exception as exc:  # a broken plugin must not break the other commands
            reason = f"{type(exc).__name__}: {exc}"
            app.command(
                ep.name,
                help=f"(cannot load: {reason})",
                context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
            )(_broken(ep.name, reason))
            mounted.append(ep.name)
            continue
        if isinstance(obj, typer.Typer):
            app.add_typer(obj, name=ep.name)
        else:
            app.command(ep.name)(obj)
        mounted.append(ep.name)
    return mounted
