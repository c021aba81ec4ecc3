"""Docker credential helpers written as real programs into a directory on PATH."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Helpers:
    """Writes docker-credential-NAME programs into a directory on PATH; logs their calls.

    A program's ``body`` runs after its call is logged, with ``json``, ``sys``, ``server``
    (what it was asked for) and ``calls`` (how many times it has been run, this one included).
    """

    bin_dir: Path

    def add(self, name: str, body: str) -> None:
        program = self.bin_dir / f"docker-credential-{name}"
        log = self.bin_dir / f"{name}.calls"
        program.write_text(
            f"#!{sys.executable}\n"
            "import json, sys\n"
            "server = sys.stdin.read()\n"
            f"with open({str(log)!r}, 'a') as log:\n"
            "    log.write(json.dumps([sys.argv[1:], server]) + '\\n')\n"
            f"with open({str(log)!r}) as log:\n"
            "    calls = len(log.readlines())\n" + body
        )
        program.chmod(0o755)

    def calls(self, name: str) -> list[list[object]]:
        log = self.bin_dir / f"{name}.calls"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]
