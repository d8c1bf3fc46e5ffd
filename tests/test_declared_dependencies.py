"""Each package declares exactly what its modules import: every runtime dependency (and
every extra's) is imported by some module of the package, and every third-party module a
package imports is declared.

Read from ``pyproject.toml`` with :mod:`tomllib` and from the sources with :mod:`ast`, so
imports inside functions and under ``TYPE_CHECKING`` count too.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["python-sdk", "cli", "engram-vector", "neuron-hf", "prism", "otel"]

# Distributions whose import name is not their normalised name.
IMPORT_NAME = {
    "nats-py": "nats",
    "cosmonapse": "cosmonapse",
    # OpenTelemetry's distributions share the ``opentelemetry`` namespace package.
    "opentelemetry-api": "opentelemetry",
    "opentelemetry-sdk": "opentelemetry",
    "opentelemetry-exporter-otlp-proto-http": "opentelemetry",
}


def distribution(requirement: str) -> str:
    """``"nats-py>=2.7; extra == 'x'"`` -> ``"nats-py"`` (PEP 503 normalised)."""
    name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert name is not None, requirement
    return re.sub(r"[-_.]+", "-", name.group(1)).lower()


def import_name(dist: str) -> str:
    return IMPORT_NAME.get(dist, dist.replace("-", "_"))


def declared(package: str) -> dict[str, str]:
    """Import name -> where it is declared (``dependencies`` or ``extra <name>``)."""
    project = tomllib.loads((ROOT / "packages" / package / "pyproject.toml").read_text())["project"]
    found = {import_name(distribution(r)): "dependencies" for r in project["dependencies"]}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        for requirement in requirements:
            found.setdefault(import_name(distribution(requirement)), f"extra {extra}")
    return found


def own_names(package: str) -> set[str]:
    return {p.name for p in (ROOT / "packages" / package / "src").iterdir() if p.is_dir()}


def imported(package: str) -> dict[str, str]:
    """Top-level module imported -> the first module that imports it."""
    found: dict[str, str] = {}
    src = ROOT / "packages" / package / "src"
    for path in sorted(src.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def third_party(package: str) -> dict[str, str]:
    skip = set(sys.stdlib_module_names) | own_names(package) | {"__future__"}
    return {name: where for name, where in imported(package).items() if name not in skip}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_declared_dependency_is_imported(package: str) -> None:
    unused = sorted(
        f"{name} ({where})"
        for name, where in declared(package).items()
        if name not in imported(package)
    )
    assert unused == [], f"packages/{package}/pyproject.toml declares what no module imports"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_imported_third_party_module_is_declared(package: str) -> None:
    undeclared = sorted(
        f"{name} ({where})"
        for name, where in third_party(package).items()
        if name not in declared(package)
    )
    assert undeclared == [], f"packages/{package} imports what its pyproject.toml does not declare"


def test_the_checks_see_what_they_check() -> None:
    """The SDK declares orjson and, for the [nats] extra, nats-py, and no longer anyio,
    which no SDK module imports (Prism imports it and declares it itself)."""
    assert declared("python-sdk") == {"orjson": "dependencies", "nats": "extra nats"}
    assert "anyio" not in imported("python-sdk")
    assert declared("prism")["anyio"] == "dependencies" and "anyio" in imported("prism")
    assert distribution("nats-py>=2.7; extra == 'nats'") == "nats-py"
    assert import_name(distribution("Typing_Extensions>=4")) == "typing_extensions"
