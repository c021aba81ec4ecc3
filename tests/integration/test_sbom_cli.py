"""Issue 2 acceptance: `tollgate sbom` on a real image in a real registry lists every
package a bare `syft` run lists, with dpkg source packages, in schema-valid SBOMs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from tests.support.images import PushedImage

pytestmark = pytest.mark.integration

TOLLGATE = [sys.executable, "-m", "service.cli"]
SYFT = str(Path(sys.executable).with_name("syft"))


def _tollgate(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TOLLGATE_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [*TOLLGATE, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def bare_syft(debian_app_image: PushedImage) -> dict[str, object]:
    """What Syft alone reports when it pulls the same image from the registry itself."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
        "SYFT_REGISTRY_INSECURE_USE_HTTP": "true",
    }
    run = subprocess.run(
        [SYFT, "scan", f"registry:{debian_app_image.reference}", "-o", "syft-json", "-q"],
        env=env,
        capture_output=True,
        check=True,
        timeout=600,
    )
    document: dict[str, object] = json.loads(run.stdout)
    return document


@pytest.fixture(scope="module")
def sboms(
    debian_app_image: PushedImage, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    data_dir = tmp_path_factory.mktemp("tollgate-data")
    out = tmp_path_factory.mktemp("sboms")
    paths = {}
    for fmt in ("cyclonedx-json", "spdx-json"):
        target = out / f"sbom.{fmt.split('-')[0]}.json"
        run = _tollgate(
            ["sbom", debian_app_image.reference, "-f", fmt, "-o", str(target)], data_dir
        )
        assert run.returncode == 0, run.stderr
        paths[fmt] = target
    return paths


def _syft_packages(document: dict[str, object]) -> set[tuple[str, str, str]]:
    artifacts = document["artifacts"]
    assert isinstance(artifacts, list)
    return {(a["name"], a["version"], a["type"]) for a in artifacts}


def test_cyclonedx_lists_every_package_syft_lists(
    sboms: dict[str, Path], bare_syft: dict[str, object], debian_app_image: PushedImage
) -> None:
    text = sboms["cyclonedx-json"].read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert bom["metadata"]["component"]["version"] == debian_app_image.digest or (
        debian_app_image.digest in json.dumps(bom["metadata"]["component"])
    )
    ours = {(c["name"], c["version"]) for c in bom["components"]}
    expected = {(name, version) for name, version, _ in _syft_packages(bare_syft)}
    assert expected, "syft found nothing: the fixture image is broken"
    assert expected <= ours


def test_types_and_dpkg_sources_match_syft(
    sboms: dict[str, Path], bare_syft: dict[str, object]
) -> None:
    bom = json.loads(sboms["cyclonedx-json"].read_text())
    by_purl = {c.get("purl"): c for c in bom["components"] if c.get("purl")}
    artifacts = bare_syft["artifacts"]
    assert isinstance(artifacts, list)
    debs = [a for a in artifacts if a["type"] == "deb"]
    assert debs
    for artifact in artifacts:
        purl_type = artifact["purl"].split("/")[0].removeprefix("pkg:")
        ours = [
            c
            for p, c in by_purl.items()
            if p.startswith(f"pkg:{purl_type}/")
            and c["name"] == artifact["name"]
            and c["version"] == artifact["version"]
        ]
        assert ours, f"{artifact['name']} {artifact['version']} ({artifact['type']}) missing"
    for artifact in debs:
        source = artifact["metadata"].get("source") or artifact["name"]
        component = next(
            c
            for c in bom["components"]
            if c["name"] == artifact["name"] and c.get("purl", "").startswith("pkg:deb/")
        )
        properties = {p["name"]: p["value"] for p in component.get("properties", [])}
        assert properties.get("tollgate:source-name") == source.split(" ")[0]


def test_spdx_is_valid_and_complete(
    sboms: dict[str, Path], bare_syft: dict[str, object], debian_app_image: PushedImage
) -> None:
    document = parse_file(str(sboms["spdx-json"]))
    assert validate_full_spdx_document(document) == []
    ours = {(p.name, p.version) for p in document.packages}
    expected = {(name, version) for name, version, _ in _syft_packages(bare_syft)}
    assert expected <= ours
    assert any(
        debian_app_image.digest.split(":")[1] in (p.version or "") + str(p.external_references)
        for p in document.packages
    )


def test_second_sbom_is_identical_and_served_from_cache(
    debian_app_image: PushedImage, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first = _tollgate(["sbom", debian_app_image.reference], data_dir)
    second = _tollgate(["sbom", debian_app_image.reference], data_dir)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout
    assert "pulled" in first.stderr and "pulled" not in second.stderr


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("Not A Reference", "invalid image reference"),
        ("127.0.0.1:1/nothing/here:1", "registry"),
        ("oci-dir:/nonexistent", "oci-dir"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output_file(
    reference: str, message: str, tmp_path: Path
) -> None:
    target = tmp_path / "out.json"
    run = _tollgate(["sbom", reference, "-o", str(target)], tmp_path / "data")
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and message in run.stderr.lower()
    assert not target.exists() and not list(tmp_path.glob("*.tmp"))


def test_unknown_tag_is_a_clear_error(
    registry: object, debian_app_image: PushedImage, tmp_path: Path
) -> None:
    missing = debian_app_image.reference.rsplit(":", 1)[0] + ":no-such-tag"
    run = _tollgate(["sbom", missing], tmp_path / "data")
    assert run.returncode == 2
    assert "no-such-tag" in run.stderr
