"""The boundaries between contexts, as import-linter contracts (../.importlinter).

The first test is the one that fails when a learner (or a hurried colleague) reaches into
another context; the others prove that it would, by breaking a boundary in a copy of the code.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

STAGE = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "edge", "catalog", "inventory", "ordering", "payments", "notifications")
PACKAGES += ("messaging", "kernel", "proxy", "catalog_service")
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def lint_imports(folder: Path) -> subprocess.CompletedProcess:
    """Run import-linter on the code in `folder` with its .importlinter; no cache written."""
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=folder, capture_output=True, text=True, timeout=60
    )


def test_every_boundary_contract_is_kept():
    result = lint_imports(STAGE)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


@pytest.fixture
def stage_copy(tmp_path) -> Path:
    """The stage's code and contracts, copied to a folder a test may break."""
    for package in PACKAGES:
        shutil.copytree(
            STAGE / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(STAGE / ".importlinter", tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("module", "imports", "complaint"),
    [
        (
            "ordering/shortcut.py",
            "from catalog.models import Product",
            ["ordering is not allowed to import catalog:", "ordering.shortcut -> catalog.models"],
        ),
        (
            "edge/shortcut.py",
            "from payments.models import Charge",
            ["edge is not allowed to import payments:", "edge.shortcut -> payments.models"],
        ),
        (
            "messaging/shortcut.py",
            "from ordering import api",
            ["messaging.shortcut -> ordering.api"],
        ),
        (
            "catalog_service/shortcut.py",
            "from catalog.models import Product",
            ["catalog_service is not allowed to import catalog:"],
        ),
        (
            "catalog/shortcut.py",
            "from catalog_service import products",
            ["catalog is not allowed to import catalog_service:"],
        ),
    ],
    ids=[
        "a context imports another's models",
        "the edge skips an api",
        "plumbing imports up",
        "the service imports the monolith",
        "the monolith imports the service",
    ],
)
def test_a_broken_boundary_fails_and_names_the_import(stage_copy, module, imports, complaint):
    (stage_copy / module).write_text(f'"""Crossing a boundary."""\n\n{imports}\n')

    result = lint_imports(stage_copy)

    # Only what this test broke is asserted: a learner's own experiment (chapter 2,
    # exercise 1) sits in the copied folder too and may break another contract.
    assert result.returncode == 1, result.stdout
    for words in complaint:
        assert words in result.stdout, result.stdout
