"""Issue 2, platforms and progress, through the real CLI against a real registry.

A two-platform index (linux/amd64 + linux/arm64, each with its own Python package)
is pushed; the default is amd64, ``--platform`` picks another, an absent platform is
an exit-2 error listing what is there, and ``--all-platforms`` writes one SBOM each.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import assert_clean_failure, run_tollgate
from tests.support.oci import BuiltIndex, ImageSpec, push, write_index
from tests.support.registry import LocalRegistry

pytestmark = pytest.mark.integration

TAG = "1"
REPOSITORY = "tollgate-test/multi-arch"


def _spec(architecture: str) -> ImageSpec:
    package = f"only-on-{architecture}"
    metadata = f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0.{len(architecture)}\n"
    return ImageSpec(
        layers=[
            {
                "etc/os-release": b'ID=debian\nVERSION_ID="12"\n',
                f"usr/lib/python3/dist-packages/{package.replace('-', '_')}-1.0.dist-info/"
                "METADATA": metadata.encode(),
            }
        ],
        architecture=architecture,
    )


@pytest.fixture(scope="module")
def multi_arch(
    registry: LocalRegistry, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, BuiltIndex]:
    layout = tmp_path_factory.mktemp("multi-arch") / "layout"
    index = write_index(layout, [_spec("amd64"), _spec("arm64")], tag=TAG)
    push(layout, TAG, registry.host, REPOSITORY)
    return f"{registry.host}/{REPOSITORY}:{TAG}", index


def _subject(bom: dict[str, object]) -> tuple[str, str, set[str]]:
    """(image digest, platform, component names) from a CycloneDX document."""
    metadata = bom["metadata"]
    assert isinstance(metadata, dict)
    component = metadata["component"]
    properties = {p["name"]: p["value"] for p in component.get("properties", [])}
    components = bom.get("components") or []
    assert isinstance(components, list)
    return (
        component["version"],
        properties["tollgate:platform"],
        {c["name"] for c in components},
    )


def _built(index: BuiltIndex, architecture: str) -> str:
    return next(i.digest for i in index.images if i.platform["architecture"] == architecture)


def test_default_platform_is_amd64_and_progress_shows_on_first_pull_only(
    multi_arch: tuple[str, BuiltIndex], tmp_path: Path
) -> None:
    ref, index = multi_arch
    out = tmp_path / "sbom.json"
    first = run_tollgate(["sbom", ref, "-o", str(out)], tmp_path / "data")
    assert first.returncode == 0, first.stderr
    digest, platform, names = _subject(json.loads(out.read_text()))
    assert (digest, platform) == (_built(index, "amd64"), "linux/amd64")
    assert "only-on-amd64" in names and "only-on-arm64" not in names
    pulled = [line for line in first.stderr.splitlines() if line.startswith("pulled ")]
    layer_hexes = {layer.digest.split(":")[1][:12] for layer in index.images[0].layers}
    assert layer_hexes <= {line.split()[1] for line in pulled}

    second = run_tollgate(["sbom", ref, "-o", str(out)], tmp_path / "data")
    assert second.returncode == 0, second.stderr
    assert "pulled" not in second.stderr
    assert _subject(json.loads(out.read_text()))[:2] == (digest, platform)


def test_platform_option_picks_the_other_image(
    multi_arch: tuple[str, BuiltIndex], tmp_path: Path
) -> None:
    ref, index = multi_arch
    out = tmp_path / "sbom.json"
    run = run_tollgate(
        ["sbom", ref, "--platform", "linux/arm64", "-o", str(out)], tmp_path / "data"
    )
    assert run.returncode == 0, run.stderr
    digest, platform, names = _subject(json.loads(out.read_text()))
    assert (digest, platform) == (_built(index, "arm64"), "linux/arm64")
    assert "only-on-arm64" in names and "only-on-amd64" not in names


@pytest.mark.parametrize("wanted", ["windows/amd64", "linux/s390x"])
def test_absent_platform_lists_the_available_ones(
    wanted: str, multi_arch: tuple[str, BuiltIndex], tmp_path: Path
) -> None:
    ref, _ = multi_arch
    out = tmp_path / "sbom.json"
    run = run_tollgate(["sbom", ref, "--platform", wanted, "-o", str(out)], tmp_path / "data")
    assert_clean_failure(run, out, wanted, "linux/amd64", "linux/arm64", "--platform")


@pytest.mark.parametrize("wanted", ["linux", "linux/amd64/v1/extra", "/"])
def test_malformed_platform(
    wanted: str, multi_arch: tuple[str, BuiltIndex], tmp_path: Path
) -> None:
    ref, _ = multi_arch
    out = tmp_path / "sbom.json"
    run = run_tollgate(["sbom", ref, "--platform", wanted, "-o", str(out)], tmp_path / "data")
    assert_clean_failure(run, out, "invalid platform", "os/arch")


def test_all_platforms_writes_one_sbom_per_platform(
    multi_arch: tuple[str, BuiltIndex], tmp_path: Path
) -> None:
    ref, index = multi_arch
    out = tmp_path / "out.json"
    run = run_tollgate(["sbom", ref, "--all-platforms", "-o", str(out)], tmp_path / "data")
    assert run.returncode == 0, run.stderr
    assert not out.exists()
    written = sorted(p.name for p in tmp_path.glob("out*.json"))
    assert written == ["out.linux-amd64.json", "out.linux-arm64.json"]
    for image in index.images:
        arch = image.platform["architecture"]
        digest, platform, names = _subject(
            json.loads((tmp_path / f"out.linux-{arch}.json").read_text())
        )
        assert (digest, platform) == (image.digest, f"linux/{arch}")
        assert f"only-on-{arch}" in names
        assert f"wrote {tmp_path / f'out.linux-{arch}.json'}" in run.stderr


def test_all_platforms_needs_an_output_file(
    multi_arch: tuple[str, BuiltIndex], tmp_path: Path
) -> None:
    ref, _ = multi_arch
    run = run_tollgate(["sbom", ref, "--all-platforms"], tmp_path / "data")
    assert run.returncode == 2
    assert "--output" in run.stderr
