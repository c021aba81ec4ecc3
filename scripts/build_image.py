"""`make image`: build the Dockerfile without Docker or Docker Hub, run the image, and let
Tollgate scan its own image against the strict bundle.

1. base: Debian 13 minbase + python3, python3-venv, ca-certificates, installed by mmdebstrap
   from the Debian archive with every maintainer script run (the CA bundle pip verifies
   PyPI with, /etc/shadow, ldconfig: the images of tests/support/rootfs.py are unpacked
   only, to be scanned, never run), imported into buildah as ``BASE_IMAGE``. The .debs
   are cached under .cache/image/debs.
2. build: ``buildah bud --isolation chroot --build-arg BASE=…``, tagged ``tollgate:VERSION``
   as deploy/kubernetes names it, in Docker format (an OCI config has no HEALTHCHECK), and
   written as the ``docker save`` archive ``ARCHIVE``.
3. run (``buildah run --isolation chroot``, which shares the host's network): ``tollgate
   --version`` as uid 10001, and ``tollgate serve`` on a loopback port answering /healthz.
4. self-scan: the image pushed to a loopback registry, signed and attested (SLSA
   provenance, CycloneDX SBOM) with a key made for this run, as a release pipeline would
   with its own, then scanned by digest, by the image itself, with ``--policy strict``.
   Exit 1 when a blocking rule other than those in ``NOT_APPLICABLE`` fires.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from tests.support.registry import LocalRegistry, free_loopback_port

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "image"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"localhost/tollgate:{VERSION}"
ARCHIVE = CACHE / f"tollgate-{VERSION}.tar"
CHECK_CONTAINER = "tollgate-image-check"
# Debian 13: Debian 12's python3 (3.11.2) predates tarfile's extraction filters (3.11.4).
DEBIAN_SUITE = "trixie"
DEBIAN_SOURCES = (
    f"deb http://deb.debian.org/debian {DEBIAN_SUITE} main",
    f"deb http://deb.debian.org/debian {DEBIAN_SUITE}-updates main",
    f"deb http://deb.debian.org/debian-security {DEBIAN_SUITE}-security main",
)
BASE_IMAGE = f"localhost/tollgate-base:{DEBIAN_SUITE}"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
UID = "10001"
SIGNING_KEY_NAME = "tollgate-release"  # the key the strict bundle's `signed` rule requires
# Strict rules that cannot pass for this build, and why (README: Container image).
NOT_APPLICABLE = {
    "approved-base": "the base is built from Debian's packages, not pulled from an approved "
    "registry image, so it has no org.opencontainers.image.base.name to match",
}


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def run(command: Sequence[str], *, env: dict[str, str] | None = None) -> str:
    """Run ``command``, echo it, fail loudly; return its stdout."""
    print("$ " + " ".join(command), flush=True)
    result = subprocess.run(
        list(command), capture_output=True, text=True, check=False, env=env, cwd=ROOT
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"{command[0]} failed ({result.returncode})")
    stdout: str = result.stdout
    return stdout


def build_base() -> None:
    """Debian 13 minbase + BASE_PACKAGES from the archive, as the buildah image BASE_IMAGE."""
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / "base.tar"
    run(
        [
            "mmdebstrap",
            "--mode=root",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            "--dpkgopt=force-unsafe-io",
            "--skip=essential/unlink",  # keep the essential .debs in the cache too
            '--setup-hook=mkdir -p "$1"/var/cache/apt/archives',
            f"--setup-hook=sync-in {debs} /var/cache/apt/archives/",
            f"--customize-hook=sync-out /var/cache/apt/archives {debs}",
            DEBIAN_SUITE,
            str(tarball),
            *DEBIAN_SOURCES,
        ]
    )
    container = run(["buildah", "from", "scratch"]).strip()
    run(["buildah", "add", "--quiet", container, str(tarball), "/"])
    run(
        [
            "buildah",
            "config",
            "--env",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--cmd",
            "/usr/bin/python3",
            "--label",
            f"org.opencontainers.image.description=Debian {DEBIAN_SUITE} minbase + "
            f"{' '.join(BASE_PACKAGES)} (mmdebstrap)",
            container,
        ]
    )
    run(["buildah", "commit", "--quiet", "--rm", container, BASE_IMAGE])
    tarball.unlink()


def build_image() -> None:
    """The Dockerfile on BASE_IMAGE, kept in buildah's storage and written to ARCHIVE."""
    run(
        [
            "buildah",
            "bud",
            "--isolation",
            "chroot",
            "--format",
            "docker",
            "--build-arg",
            f"BASE={BASE_IMAGE}",
            # pip verifies PyPI with the machine's CA bundle (e.g. a TLS-inspecting proxy's
            # CA); mounted for the RUN steps only, not part of the image.
            "--volume",
            "/etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro",
            "--tag",
            IMAGE,
            str(ROOT),
        ]
    )
    run(["buildah", "rmi", "--prune"])  # the previous build's image, now untagged
    ARCHIVE.unlink(missing_ok=True)
    run(["buildah", "push", "--quiet", IMAGE, f"docker-archive:{ARCHIVE}:tollgate:{VERSION}"])


@contextmanager
def check_container(volumes: Sequence[str]) -> Iterator[list[str]]:
    """A working container of IMAGE; yields the ``buildah run`` prefix, removed afterwards."""
    subprocess.run(["buildah", "rm", CHECK_CONTAINER], capture_output=True, check=False)
    mounts = [arg for volume in volumes for arg in ("--volume", volume)]
    run(["buildah", "from", "--quiet", "--name", CHECK_CONTAINER, IMAGE])
    try:
        yield ["buildah", "run", "--isolation", "chroot", *mounts, CHECK_CONTAINER, "--"]
    finally:
        run(["buildah", "rm", CHECK_CONTAINER])


def check_serves(in_image: Sequence[str]) -> None:
    """``tollgate serve`` in the image answers /healthz on a loopback port."""
    port = free_loopback_port()
    url = f"http://127.0.0.1:{port}/healthz"
    command = [*in_image, "tollgate", "serve", "--host", "127.0.0.1", "--port", str(port)]
    print("$ " + " ".join(command), flush=True)
    log = CACHE / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(command, start_new_session=True, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    print(f"GET {url}: {response.status} {response.read().decode()}")
                    return
            except OSError:
                time.sleep(0.5)
        sys.stderr.write(log.read_text()[-4000:])
        raise SystemExit(f"tollgate serve in the image did not answer {url}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def host_tollgate(*args: str, env: dict[str, str]) -> str:
    """This checkout's CLI on the host: the release pipeline's signing steps."""
    return run([sys.executable, "-m", "service.cli", *args], env={**os.environ, **env})


def provenance(reference: str, base_id: str) -> dict[str, object]:
    """An SLSA v1 provenance predicate for this build (what it was built from and by)."""
    commit = run(["git", "-C", str(ROOT), "rev-parse", "HEAD"]).strip()
    dirty = bool(run(["git", "-C", str(ROOT), "status", "--porcelain"]).strip())
    return {
        "buildDefinition": {
            "buildType": "https://github.com/containers/buildah/bud@v1",
            "externalParameters": {
                "dockerfile": "Dockerfile",
                "buildArgs": {"BASE": BASE_IMAGE},
                "source": {"commit": commit, "uncommittedChanges": dirty},
            },
            "resolvedDependencies": [
                {"uri": f"git+file://{ROOT}", "digest": {"gitCommit": commit}},
                {"uri": f"buildah:{BASE_IMAGE}", "digest": {"sha256": base_id}},
            ],
        },
        "runDetails": {
            "builder": {"id": "make image (scripts/build_image.py)"},
            "metadata": {"invocationId": reference, "finishedOn": datetime.now(UTC).isoformat()},
        },
    }


def sign_and_attest(reference: str, work: Path) -> Path:
    """Sign and attest ``reference`` with a key made for this run; the public key's directory."""
    keys = work / "keys"
    keys.mkdir()
    key = keys / SIGNING_KEY_NAME
    env = {"COSIGN_PASSWORD": secrets.token_urlsafe(24), "TOLLGATE_DATA_DIR": str(work)}
    host_tollgate("key", "generate", "--output-key-prefix", str(key), env=env)
    host_tollgate("sign", "--key", f"{key}.key", reference, env=env)
    base_id = run(["buildah", "inspect", "--format", "{{.FromImageID}}", IMAGE]).strip()
    predicates = {
        "slsaprovenance1": json.dumps(provenance(reference, base_id)),
        "cyclonedx": host_tollgate("sbom", reference, "-f", "cyclonedx-json", env=env),
    }
    for kind, predicate in predicates.items():
        path = work / f"{kind}.json"
        path.write_text(predicate)
        attest = ["attest", "--key", f"{key}.key", "--type", kind, "--predicate", str(path)]
        host_tollgate(*attest, reference, env=env)
    Path(f"{key}.key").unlink()
    return keys


def scan_in_image(reference: str, keys: Path) -> dict[str, object]:
    """The image's own ``tollgate scan --policy strict`` of ``reference``: its JSON report."""
    verify_keys = json.dumps({SIGNING_KEY_NAME: f"/keys/{SIGNING_KEY_NAME}.pub"})
    with check_container([f"{keys}:/keys:ro"]) as in_image:
        scan = [*in_image, "env", f"TOLLGATE_VERIFY_KEYS={verify_keys}", "tollgate", "scan"]
        command = [*scan, reference, "--policy", "strict", "--format", "json"]
        print("$ " + " ".join(command), flush=True)
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode not in (0, 1) or not result.stdout:  # 2: no decision
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"the self-scan failed ({result.returncode})")
    report: dict[str, object] = json.loads(result.stdout)
    return report


def self_scan(work: Path) -> int:
    """Push, sign, attest, then scan the image with itself against strict; 0 if it passes."""
    with LocalRegistry(work / "registry") as registry:
        digest_file = work / "digest"
        destination = f"docker://{registry.host}/tollgate:{VERSION}"
        push = ["buildah", "push", "--quiet", "--tls-verify=false", "--digestfile"]
        run([*push, str(digest_file), IMAGE, destination])
        digest = digest_file.read_text().strip()
        reference = f"{registry.host}/tollgate@{digest}"
        return judge(scan_in_image(reference, sign_and_attest(reference, work)))


def judge(report: dict[str, object]) -> int:
    """Print the decision; 1 if a blocking rule fired that is not in NOT_APPLICABLE."""
    decision = report["decision"]
    assert isinstance(decision, dict)
    print(f"strict: {decision['outcome'].upper()} (bundle version {decision['bundle_version']})")
    unexpected = []
    for rule in decision["rule_results"]:
        state = "skipped" if rule["skipped"] else "FIRED" if rule["fired"] else "ok"
        print(f"  {rule['action']:5} {state:7} {rule['rule_id']}: {rule['actual']}")
        if rule["fired"] and rule["action"] == "block" and rule["rule_id"] not in NOT_APPLICABLE:
            unexpected.append(rule["rule_id"])
    for rule_id, reason in NOT_APPLICABLE.items():
        print(f"  not applicable: {rule_id}: {reason}")
    if unexpected:
        print(f"blocked by: {', '.join(unexpected)}")
        return 1
    return 0


def main() -> None:
    timings: dict[str, float] = {}

    @contextmanager
    def timed(name: str) -> Iterator[None]:
        step(name)
        started = time.monotonic()
        yield
        timings[name] = time.monotonic() - started

    with timed(f"base {BASE_IMAGE} from the Debian archive"):
        build_base()
    with timed(f"build {IMAGE}"):
        build_image()
    with timed("run the image"), check_container([]) as in_image:
        print(run([*in_image, "tollgate", "--version"]).strip())
        uid = run([*in_image, "id", "-u"]).strip()
        if uid != UID:
            raise SystemExit(f"the image runs as uid {uid}, not {UID}")
        print(f"runs as uid {uid}")
        check_serves(in_image)
    with timed("self-scan against strict"), tempfile.TemporaryDirectory() as work:
        status = self_scan(Path(work))
    size = run(["buildah", "images", "--format", "{{.Size}}", IMAGE]).strip()
    print(f"\n{IMAGE}: {size}; docker save archive: {ARCHIVE}")
    print(", ".join(f"{name}: {seconds:.0f} s" for name, seconds in timings.items()))
    sys.exit(status)


if __name__ == "__main__":
    main()
