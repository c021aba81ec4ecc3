"""The command line loads httpx without httpx's own command-line client, and only when
it talks to a registry."""

from __future__ import annotations

import os
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


PLUGIN_SCAN = (
    "import service.cli; from service.catalog.model import Catalog; "
    "from pydantic.plugin import _loader; print(_loader._plugins is not None)"
)


def _plugin_scan(environment: dict[str, str]) -> str:
    """Whether pydantic looked for plugins once a model was built."""
    result = subprocess.run(
        [sys.executable, "-c", PLUGIN_SCAN],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    return result.stdout.strip()


def test_the_command_line_loads_no_pydantic_plugins() -> None:
    """Pydantic's plugin search (every installed distribution's entry points) is skipped
    in Tollgate's processes..."""
    environment = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    assert _plugin_scan(environment) == "False"


def test_an_operator_can_still_enable_pydantic_plugins() -> None:
    """...unless the operator sets PYDANTIC_DISABLE_PLUGINS (empty: every plugin)."""
    assert _plugin_scan({**os.environ, "PYDANTIC_DISABLE_PLUGINS": ""}) == "True"
