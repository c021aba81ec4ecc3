"""A Debian 12 (bookworm) minimal root filesystem made from real .deb packages.

No chroot, no maintainer scripts: the package set is resolved by apt as if installing
every ``Priority: required`` package into an empty system (debootstrap's minbase), the
.debs are fetched with ``apt-get download`` into a cache, unpacked with merged /usr
(``bin``, ``sbin``, ``lib*`` are symlinks into ``usr``), and the dpkg database
(``/var/lib/dpkg/status`` + ``info/*.list`` / ``*.md5sums``) is written from each
package's own control archive, exactly as dpkg records an installed package.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import posixpath
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# usr-is-merged satisfies init-system-helpers without pulling in usrmerge and perl.
EXTRA_PACKAGES = ("usr-is-merged",)
MERGED_DIRS = ("bin", "sbin", "lib", "lib64")  # what debian:bookworm has on amd64
_INST_LINE = re.compile(r"^Inst (\S+) \((\S+) [^\n]*\[(\S+)\]\)", re.MULTILINE)


@dataclass(frozen=True)
class DebianPackage:
    name: str
    version: str
    architecture: str


def _run(command: Sequence[str], *, cwd: Path | None = None) -> bytes:
    result = subprocess.run(list(command), capture_output=True, check=False, cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(
            f"{command[0]} failed ({result.returncode}): {result.stderr.decode()[-2000:]}"
        )
    return result.stdout


def _fields(stanza: str) -> dict[str, str]:
    """The single-line fields of a deb822 stanza (continuation lines skipped)."""
    return dict(
        line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " "
    )


def required_packages() -> list[str]:
    """Names of every ``Priority: required`` package apt knows (amd64 or all)."""
    names: set[str] = set()
    for stanza in _run(["apt-cache", "dumpavail"]).decode().split("\n\n"):
        fields = _fields(stanza)
        if fields.get("Priority") == "required" and fields.get("Architecture") in ("amd64", "all"):
            names.add(fields["Package"])
    return sorted(names)


def resolve_minbase(extra: Sequence[str] = ()) -> list[DebianPackage]:
    """What apt would install into an empty system for minbase (+ ``extra``)."""
    with tempfile.NamedTemporaryFile() as empty_status:
        plan = _run(
            [
                "apt-get",
                "--simulate",
                "-o",
                f"Dir::State::status={empty_status.name}",
                "-o",
                "APT::Install-Recommends=false",
                "install",
                *required_packages(),
                *EXTRA_PACKAGES,
                *extra,
            ]
        ).decode()
    # Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64]) []
    packages = [DebianPackage(*match.groups()) for match in _INST_LINE.finditer(plan)]
    return sorted(packages, key=lambda p: p.name)


def candidates(names: Sequence[str]) -> list[DebianPackage]:
    """The versions of ``names`` apt would install today."""
    stanzas = _run(["apt-cache", "show", "--no-all-versions", *names]).decode().split("\n\n")
    fields = [_fields(stanza) for stanza in stanzas if stanza.strip()]
    return [DebianPackage(f["Package"], f["Version"], f["Architecture"]) for f in fields]


def download(packages: Sequence[DebianPackage], debs_dir: Path) -> list[Path]:
    """``apt-get download`` the exact versions (skipping .debs already cached)."""
    debs_dir.mkdir(parents=True, exist_ok=True)

    def deb_path(package: DebianPackage) -> Path:
        version = package.version.replace(":", "%3a")
        return debs_dir / f"{package.name}_{version}_{package.architecture}.deb"

    missing = [f"{p.name}={p.version}" for p in packages if not deb_path(p).exists()]
    if missing:
        logger.info("downloading %d .debs into %s", len(missing), debs_dir)
        _run(["apt-get", "download", *missing], cwd=debs_dir)
    return [deb_path(p) for p in packages]


def _merged(path: str) -> str:
    """Where ``path`` (relative, unmerged) lives on a merged-/usr system."""
    top, _, rest = path.partition("/")
    return f"usr/{top}/{rest}".rstrip("/") if top in MERGED_DIRS else path


def _relocate_link(member: tarfile.TarInfo, old_name: str) -> None:
    """Keep link targets right after ``old_name`` moved to ``member.name``."""
    moved = member.name != old_name
    if moved and member.issym() and not member.linkname.startswith("/"):
        target = posixpath.normpath(posixpath.join(posixpath.dirname(old_name), member.linkname))
        member.linkname = posixpath.relpath(_merged(target), posixpath.dirname(member.name))
    elif member.islnk():
        member.linkname = _merged(member.linkname.removeprefix("./"))


def _unpack_data(deb: Path, rootfs: Path) -> list[str]:
    """Extract the data archive into ``rootfs`` (merged /usr); return dpkg's file list."""
    listing = ["/."]
    command = ["dpkg-deb", "--fsys-tarfile", str(deb)]
    with subprocess.Popen(command, stdout=subprocess.PIPE) as data:
        assert data.stdout is not None
        with tarfile.open(fileobj=data.stdout, mode="r|") as tar:
            for member in tar:
                original = posixpath.normpath(member.name.removeprefix("./"))
                if original == ".":
                    continue
                listing.append(f"/{original}")
                member.name = _merged(original)
                if member.isdir() and (rootfs / member.name).is_symlink():
                    continue
                _relocate_link(member, original)
                tar.extract(member, rootfs, filter="fully_trusted")
    if data.returncode != 0:
        raise RuntimeError(f"dpkg-deb --fsys-tarfile {deb.name} failed ({data.returncode})")
    return listing


def data_files(deb: Path, suffix: str) -> dict[str, bytes]:
    """The regular files of ``deb``'s data archive whose names end in ``suffix`` (path as
    the package ships it, without the leading ``./`` -> content)."""
    files = _archive_files(_run(["dpkg-deb", "--fsys-tarfile", str(deb)]))
    return {name.removeprefix("./"): c for name, c in files.items() if name.endswith(suffix)}


def _control_files(deb: Path) -> dict[str, bytes]:
    files = _archive_files(_run(["dpkg-deb", "--ctrl-tarfile", str(deb)]))
    return {posixpath.basename(name): content for name, content in files.items()}


def _archive_files(archive: bytes) -> dict[str, bytes]:
    """The regular files of a tar archive (member name -> content)."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member) if member.isfile() else None
            if extracted is not None:
                files[member.name] = extracted.read()
    return files


def _status_stanza(control: str, conffiles: str, rootfs: Path) -> str:
    lines = control.strip("\n").splitlines()
    lines.insert(1, "Status: install ok installed")
    entries = [path for path in conffiles.split() if path.startswith("/")]
    if entries:
        lines.append("Conffiles:")
        for path in entries:
            content = (rootfs / path.lstrip("/")).read_bytes()
            lines.append(f" {path} {hashlib.md5(content, usedforsecurity=False).hexdigest()}")
    return "\n".join(lines) + "\n"


def build_rootfs(debs: Sequence[Path], rootfs: Path) -> int:
    """Unpack ``debs`` into ``rootfs`` with a dpkg database; return the package count."""
    rootfs.mkdir(parents=True)
    for top in MERGED_DIRS:
        (rootfs / "usr" / top).mkdir(parents=True)
        (rootfs / top).symlink_to(f"usr/{top}")
    info = rootfs / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    stanzas: dict[str, str] = {}
    for deb in debs:
        listing = _unpack_data(deb, rootfs)
        control = _control_files(deb)
        text = control["control"].decode()
        fields = _fields(text)
        name = fields["Package"]
        if fields.get("Multi-Arch") == "same":
            name = f"{name}:{fields['Architecture']}"
        (info / f"{name}.list").write_text("\n".join(listing) + "\n")
        if "md5sums" in control:
            (info / f"{name}.md5sums").write_bytes(control["md5sums"])
        conffiles = control.get("conffiles", b"").decode()
        stanzas[fields["Package"]] = _status_stanza(text, conffiles, rootfs)
    status = "\n".join(stanzas[name] for name in sorted(stanzas))
    (rootfs / "var/lib/dpkg/status").write_text(status)
    (rootfs / "var/lib/dpkg/available").touch()
    _write_accounts(rootfs)
    os.chmod(rootfs, 0o755)
    return len(stanzas)


def _write_accounts(rootfs: Path) -> None:
    """/etc/passwd and /etc/group as base-passwd's postinst writes them from its masters."""
    masters = rootfs / "usr/share/base-passwd"
    (rootfs / "etc/passwd").write_bytes((masters / "passwd.master").read_bytes())
    (rootfs / "etc/group").write_bytes((masters / "group.master").read_bytes())


def add_user(rootfs: Path, name: str, uid: int) -> None:
    """What ``useradd --create-home --uid UID NAME`` leaves behind."""
    with (rootfs / "etc/passwd").open("a") as passwd:
        passwd.write(f"{name}:x:{uid}:{uid}::/home/{name}:/bin/bash\n")
    with (rootfs / "etc/group").open("a") as group:
        group.write(f"{name}:x:{uid}:\n")
    (rootfs / "home" / name).mkdir(parents=True)


def changed_tree(lower: Path, upper: Path, target: Path) -> None:
    """What a layer holds that turns ``lower`` into ``upper`` (which only adds and changes:
    an ``apt-get install``), as a tree under ``target``: every file and symlink of
    ``upper`` that ``lower`` lacks or has differently (regular files hard-linked), and
    the directories holding them."""
    for current, dirs, files in os.walk(upper):
        here = Path(current)
        relative = here.relative_to(upper)
        for name in files + [d for d in dirs if (here / d).is_symlink()]:
            path, old = here / name, lower / relative / name
            if _same_entry(path, old):
                continue
            copy = target / relative / name
            copy.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                copy.symlink_to(os.readlink(path))
            else:
                os.link(path, copy)


def _same_entry(path: Path, old: Path) -> bool:
    if not old.exists() and not old.is_symlink():
        return False
    if path.is_symlink() or old.is_symlink():
        return path.is_symlink() and old.is_symlink() and os.readlink(path) == os.readlink(old)
    if path.lstat().st_mode != old.lstat().st_mode:
        return False
    return path.read_bytes() == old.read_bytes()
