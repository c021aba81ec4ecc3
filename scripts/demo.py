"""`make demo`: build a real image from real packages, import an OSV sample, scan it.

The image is the test suite's Debian 12 minbase + PyPI wheels + npm app, built from
the Debian archive, PyPI and the npm registry (no Docker, no Docker Hub) and kept
as an OCI layout under .cache/demo/layout. Tollgate's data goes to .cache/demo/data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.images import debian_app_layout

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".cache" / "demo"
OSV_SAMPLE = ROOT / "tests" / "fixtures" / "osv-demo"


def tollgate(*args: str) -> int:
    env = {**os.environ, "TOLLGATE_DATA_DIR": str(DEMO / "data")}
    command = [sys.executable, "-m", "service.cli", *args]
    print("$ tollgate " + " ".join(args), flush=True)
    return subprocess.run(command, env=env, check=False).returncode


def main() -> None:
    print("building the demo image from real Debian, PyPI and npm packages…", flush=True)
    built = debian_app_layout()
    layout = DEMO / "layout"
    if layout.exists():
        shutil.rmtree(layout)
    shutil.copytree(built.layout, layout, symlinks=True)
    update = tollgate(
        "db",
        "update",
        "--source",
        f"PyPI={OSV_SAMPLE / 'PyPI'}",
        "--source",
        f"npm={OSV_SAMPLE / 'npm'}",
    )
    if update != 0:
        sys.exit(update)
    status = tollgate("scan", f"oci-dir:{layout}")
    meaning = {0: "pass or warn", 1: "blocked by policy"}.get(status, "error")
    print(f"\ntollgate scan exited {status} ({meaning}); as a CI gate, 1 fails the build.")
    sys.exit(0 if status in (0, 1) else status)


if __name__ == "__main__":
    main()
