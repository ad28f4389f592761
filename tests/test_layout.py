"""Adding a source costs four things; this test fails when one of them is missing.

For every catalogue dataset: its harvester module exists and defines ``Harvester``, it has a
fixture folder ``tests/fixtures/<publisher>/<module>/`` with a file in it, and a test module
``tests/test_<publisher>_<module>.py``. Every module file names itself in a docstring.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from sendbench.catalogue import load_catalogue

TESTS = Path(__file__).parent
PACKAGE = TESTS.parent / "sendbench"
CATALOGUE = load_catalogue()


@pytest.mark.parametrize("dataset", CATALOGUE.datasets, ids=lambda d: d.id)
def test_dataset_has_harvester_fixture_and_tests(dataset):
    module = importlib.import_module(f"sendbench.harvesters.{dataset.harvester}")
    assert hasattr(module, "Harvester"), f"{dataset.harvester} defines no Harvester class"
    parts = dataset.harvester.split(".")
    fixture_dir = TESTS / "fixtures" / Path(*parts)
    assert fixture_dir.is_dir() and any(fixture_dir.rglob("*.*")), f"no fixture in {fixture_dir}"
    test_module = TESTS / f"test_{'_'.join(parts)}.py"
    assert test_module.exists(), f"no test module {test_module.name} for {dataset.id}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_every_module_has_a_docstring(path):
    assert ast.get_docstring(ast.parse(path.read_text())), f"{path} has no module docstring"


def test_only_http_imports_requests():
    importers = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if any(
            (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "requests" for a in n.names))
            or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "requests")
            for n in ast.walk(ast.parse(p.read_text()))
        )
    ]
    assert importers == ["http.py"]
