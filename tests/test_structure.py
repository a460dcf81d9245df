"""Data flows one way: market -> pricing -> portfolio / strategies -> backtest -> alerts -> publish.

Read from the source (ast), not from a run: an import that points back up the chain, or Dagster
inside the pure core, fails here with the file and the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PIPELINE = Path(__file__).resolve().parents[1] / "pipeline"
# package -> the pipeline packages it must never import
FORBIDDEN = {
    "market": {"pricing", "portfolio", "strategies", "backtest", "alerts", "publish"},
    "pricing": {"portfolio", "strategies", "backtest", "alerts", "publish"},
    "portfolio": {"strategies", "backtest", "alerts", "publish"},
    "strategies": {"backtest", "alerts", "publish"},
    "backtest": {"alerts", "publish"},
    "alerts": {"publish"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_back_up_the_data_flow(package: str):
    wrong = [f"{path.relative_to(PIPELINE.parent)}:{line} imports {name}"
             for path in sorted((PIPELINE / package).rglob("*.py")) for line, name in _imports(path)
             if name.split(".")[0] == "pipeline" and len(name.split(".")) > 1
             and name.split(".")[1] in FORBIDDEN[package]]
    assert wrong == []


def test_the_pure_core_never_imports_dagster_or_the_asset_layer():
    wrong = [f"{path.relative_to(PIPELINE.parent)}:{line} imports {name}"
             for path in sorted(PIPELINE.rglob("*.py")) for line, name in _imports(path)
             if name.split(".")[0] in {"dagster", "assets"}]
    assert wrong == []
