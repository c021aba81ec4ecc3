"""The command line loads httpx without httpx's own command-line client, and only when
it talks to a registry."""

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


def test_a_command_on_a_local_image_does_not_load_httpx() -> None:
    """What an SBOM of an archive or a layout loads before its layers are read: httpx
    (and urllib's request module) come with the first registry client."""
    report = (
        "import sys; import service.cli.main, service.wiring, service.layers.analyzer; "
        "print(sorted({'httpx', 'urllib.request'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", report], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["[]"]
