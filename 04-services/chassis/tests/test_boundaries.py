"""The stage's import contracts (.importlinter) hold: no service imports another, and the
chassis imports no service. The failure message names the import that broke a contract."""

import os
import subprocess
import sys
from pathlib import Path

STAGE_DIR = Path(__file__).resolve().parents[2]
GENERATED = STAGE_DIR.parent / "proto" / "_generated"


def test_the_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    path = os.pathsep.join([str(STAGE_DIR), str(GENERATED)])
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=STAGE_DIR,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout
