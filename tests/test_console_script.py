"""The ``drill`` command users type is installed and runs this package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from drillkit import __version__


def test_the_installed_drill_command_runs_and_names_its_version() -> None:
    script = Path(sys.executable).parent / "drill"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout
