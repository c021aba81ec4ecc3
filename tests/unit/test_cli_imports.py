"""The command line loads httpx without httpx's own command-line client."""

from __future__ import annotations

import subprocess
import sys

IMPORT_AND_REPORT = (
    "import sys; import service.cli, service.registry.client; "
    "print(sorted({'rich', 'pygments'} & set(sys.modules)), sys.modules['httpx._main'])"
)


def test_httpx_loads_without_its_command_line_client() -> None:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_AND_REPORT], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["[]", "None"]
