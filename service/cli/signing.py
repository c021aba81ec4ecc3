"""``tollgate key generate | sign | verify | attest | verify-attestation`` (cosign-compatible).

The lead mounts :data:`app`'s commands at top level.  ``attest`` takes its predicate from
``--predicate``; when absent it asks ``ctx.obj["sbom_predicate"]`` (a
:data:`PredicateSource` the application wires to stored SBOMs) and fails clearly without.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from service.errors import InvalidReferenceError, NotFoundError, SigningError, TollgateError
from service.image.model import Transport
from service.image.reference import parse_reference
from service.registry.credentials import CredentialStore
from service.registry.factory import RegistryClientFactory
from service.registry.interface import Registry
from service.settings import get_settings
from service.signing.attestation import build_predicate, predicate_type_uri
from service.signing.keyless import KeylessPolicy, KeylessVerifier
from service.signing.keys import (
    load_private_key,
    load_public_key,
    password_from_env_or_prompt,
    write_key_pair,
)
from service.signing.signer import attest_image, sign_image
from service.signing.store import AttachmentStore
from service.signing.verify import ImageVerifier, Verified

# (image digest, cosign --type) -> predicate bytes, or None when nothing is stored.
PredicateSource = Callable[[str, str], bytes | None]

app = typer.Typer(help="Cosign-compatible keys, signatures and attestations.")
key_app = typer.Typer(help="Manage cosign-compatible key pairs.")
app.add_typer(key_app, name="key")


@dataclass(frozen=True)
class ResolvedImage:
    registry: Registry
    repository: str
    name: str  # registry/repository: cosign's docker-reference and subject name
    digest: str


@contextmanager
def _errors_exit() -> Iterator[None]:
    try:
        yield
    except TollgateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@contextmanager
def _resolve(image: str) -> Iterator[ResolvedImage]:
    reference = parse_reference(image)
    if reference.transport is not Transport.REGISTRY or not reference.registry:
        raise InvalidReferenceError(
            f"{image!r} is not a registry image", hint="signatures live in a registry"
        )
    repository = reference.repository or ""
    settings = get_settings()
    factory = RegistryClientFactory(settings, CredentialStore.from_settings(settings))
    try:
        registry = factory(reference.registry)
        digest = reference.digest or registry.head_manifest(repository, reference.tag or "latest")
        if digest is None:
            raise NotFoundError(f"{image} does not exist", hint="check the tag")
        yield ResolvedImage(registry, repository, f"{reference.registry}/{repository}", digest)
    finally:
        factory.close()


def _password(confirm: bool) -> bytes:
    return password_from_env_or_prompt(confirm=confirm, prompt=getpass.getpass)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read the {what} {path}: {exc.strerror}") from exc


def _print_json(documents: tuple[dict[str, object], ...]) -> None:
    """Compact, like cosign's ``json.Marshal`` output."""
    sys.stdout.write(json.dumps(list(documents), separators=(",", ":")) + "\n")


KeyOption = Annotated[Path, typer.Option("--key", help="cosign.key (sign) or cosign.pub (verify)")]


@key_app.command("generate")
def generate(
    output_key_prefix: Annotated[
        str, typer.Option("--output-key-prefix", help="writes PREFIX.key and PREFIX.pub")
    ] = "cosign",
) -> None:
    """Write an encrypted cosign.key (0600) and cosign.pub, like `cosign generate-key-pair`."""
    with _errors_exit():
        files = write_key_pair(Path(output_key_prefix), _password(confirm=True))
        typer.echo(f"Private key written to {files.private_key}", err=True)
        typer.echo(f"Public key written to {files.public_key}", err=True)


@app.command("sign")
def sign(
    image: str,
    key: KeyOption,
    annotations: Annotated[
        list[str] | None, typer.Option("-a", "--annotations", help="key=value, repeatable")
    ] = None,
) -> None:
    """Sign IMAGE and store the signature at <repo>:sha256-<hex>.sig."""
    with _errors_exit():
        pairs: dict[str, str] = {}
        for item in annotations or []:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise SigningError(f"annotation {item!r} is not key=value")
            pairs[name] = value
        private = load_private_key(_read(key, "private key"), _password(confirm=False))
        with _resolve(image) as resolved:
            added = sign_image(
                AttachmentStore(resolved.registry),
                private,
                repository=resolved.repository,
                docker_reference=resolved.name,
                image_digest=resolved.digest,
                annotations=pairs,
            )
        state = "Pushed signature" if added else "Signature already present"
        typer.echo(f"{state} for {resolved.name}@{resolved.digest}", err=True)


def _image_verifier_check(
    key: Path | None, identity: str | None, issuer: str | None, trusted_root: Path | None
) -> Callable[[ImageVerifier, ResolvedImage], Verified]:
    """How ``verify`` checks: with a public key, or keyless against identity + trusted root."""
    keyless = (identity, issuer, trusted_root)
    if key is not None:
        if any(value is not None for value in keyless):
            raise SigningError("pass either --key or the keyless options, not both")
        public = load_public_key(_read(key, "public key"))
        return lambda verifier, image: verifier.verify_signatures(
            image.repository, image.digest, public
        )
    if identity is None or issuer is None or trusted_root is None:
        raise SigningError(
            "nothing to verify against",
            hint="pass --key cosign.pub, or --certificate-identity, "
            "--certificate-oidc-issuer and --trusted-root",
        )
    checker = KeylessVerifier(KeylessPolicy(trusted_root, identity, issuer))
    return lambda verifier, image: verifier.verify_signatures_keyless(
        image.repository, image.digest, checker
    )


@app.command("verify")
def verify(
    image: str,
    key: Annotated[Path | None, typer.Option("--key", help="the signer's cosign.pub")] = None,
    certificate_identity: Annotated[
        str | None, typer.Option("--certificate-identity", help="keyless: expected signer")
    ] = None,
    certificate_oidc_issuer: Annotated[
        str | None, typer.Option("--certificate-oidc-issuer", help="keyless: expected issuer")
    ] = None,
    trusted_root: Annotated[
        Path | None, typer.Option("--trusted-root", help="keyless: Sigstore trusted_root.json")
    ] = None,
) -> None:
    """Verify IMAGE's signatures (public key or keyless); print the verified payloads."""
    with _errors_exit():
        check = _image_verifier_check(
            key, certificate_identity, certificate_oidc_issuer, trusted_root
        )
        with _resolve(image) as resolved:
            verified = check(ImageVerifier(resolved.registry), resolved)
        typer.echo(f"Verification for {resolved.name}@{resolved.digest} --", err=True)
        against = "the specified public key" if key else "the certificate identity and trusted root"
        typer.echo(f"  - The signatures were verified against {against}", err=True)
        _print_json(verified.documents)


TypeOption = Annotated[
    str, typer.Option("--type", help="cyclonedx|spdxjson|vuln|openvex|custom|URI")
]


@app.command("attest")
def attest(
    ctx: typer.Context,
    image: str,
    key: KeyOption,
    type_name: TypeOption = "custom",
    predicate: Annotated[Path | None, typer.Option("--predicate", help="predicate file")] = None,
) -> None:
    """Attach a signed in-toto attestation (DSSE) at <repo>:sha256-<hex>.att."""
    with _errors_exit():
        predicate_type = predicate_type_uri(type_name)
        private = load_private_key(_read(key, "private key"), _password(confirm=False))
        with _resolve(image) as resolved:
            if predicate is not None:
                raw = _read(predicate, "predicate")
            else:
                source: PredicateSource | None = (ctx.obj or {}).get("sbom_predicate")
                stored = source(resolved.digest, type_name) if source else None
                if stored is None:
                    raise SigningError(
                        f"Tollgate holds no {type_name} document for {resolved.digest}",
                        hint="pass the predicate with --predicate FILE",
                    )
                raw = stored
            attest_image(
                AttachmentStore(resolved.registry),
                private,
                repository=resolved.repository,
                subject_name=resolved.name,
                image_digest=resolved.digest,
                predicate_type=predicate_type,
                predicate=build_predicate(type_name, raw),
            )
        typer.echo(f"Pushed attestation for {resolved.name}@{resolved.digest}", err=True)


@app.command("verify-attestation")
def verify_attestation(image: str, key: KeyOption, type_name: TypeOption = "custom") -> None:
    """Verify IMAGE's attestations of --type with a public key; print the statements."""
    with _errors_exit():
        public = load_public_key(_read(key, "public key"))
        with _resolve(image) as resolved:
            verified = ImageVerifier(resolved.registry).verify_attestations(
                resolved.repository, resolved.digest, public, predicate_type_uri(type_name)
            )
        _print_json(verified.documents)
