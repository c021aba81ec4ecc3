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

import click
from cryptography.hazmat.primitives.asymmetric import ec

from service.errors import InvalidReferenceError, NotFoundError, SigningError, TollgateError
from service.image.model import Transport
from service.image.reference import parse_reference
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
from service.wiring import registry_clients

# (image digest, cosign --type) -> predicate bytes, or None when nothing is stored.
PredicateSource = Callable[[str, str], bytes | None]

app = click.Group(help="Cosign-compatible keys, signatures and attestations.")
key_app = click.Group(
    "key",
    help="Manage cosign-compatible key pairs.",
    no_args_is_help=False,  # a bare `tollgate key` is a usage error (exit 2)
)
app.add_command(key_app)


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
        click.echo(f"error: {exc}", err=True)
        raise click.exceptions.Exit(2) from exc


@contextmanager
def _resolve(image: str) -> Iterator[ResolvedImage]:
    reference = parse_reference(image)
    if reference.transport is not Transport.REGISTRY or not reference.registry:
        raise InvalidReferenceError(
            f"{image!r} is not a registry image", hint="signatures live in a registry"
        )
    repository = reference.repository or ""
    factory = registry_clients(get_settings())
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


key_option = click.option(
    "--key",
    type=click.Path(path_type=Path),
    required=True,
    help="cosign.key (sign) or cosign.pub (verify)",
)
type_option = click.option(
    "--type",
    "type_name",
    default="custom",
    show_default=True,
    help="cyclonedx|spdxjson|vuln|openvex|custom|URI",
)


@key_app.command("generate")
@click.option(
    "--output-key-prefix",
    default="cosign",
    show_default=True,
    help="writes PREFIX.key and PREFIX.pub",
)
def generate(output_key_prefix: str) -> None:
    """Write an encrypted cosign.key (0600) and cosign.pub, like `cosign generate-key-pair`."""
    with _errors_exit():
        files = write_key_pair(Path(output_key_prefix), _password(confirm=True))
        click.echo(f"Private key written to {files.private_key}", err=True)
        click.echo(f"Public key written to {files.public_key}", err=True)


@app.command("sign")
@click.argument("image")
@key_option
@click.option("-a", "--annotations", multiple=True, help="key=value, repeatable")
def sign(image: str, key: Path, annotations: tuple[str, ...]) -> None:
    """Sign IMAGE and store the signature at <repo>:sha256-<hex>.sig."""
    with _errors_exit():
        pairs: dict[str, str] = {}
        for item in annotations:
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
        click.echo(f"{state} for {resolved.name}@{resolved.digest}", err=True)


@dataclass(frozen=True)
class _Trust:
    """What ``verify`` and ``verify-attestation`` check against: a key, or a keyless policy."""

    key: ec.EllipticCurvePublicKey | None = None
    keyless: KeylessVerifier | None = None

    @property
    def described(self) -> str:
        return (
            "the specified public key" if self.key else "the certificate identity and trusted root"
        )

    def signatures(self, image: ResolvedImage) -> Verified:
        verifier = ImageVerifier(image.registry)
        if self.keyless is not None:
            return verifier.verify_signatures_keyless(image.repository, image.digest, self.keyless)
        assert self.key is not None
        return verifier.verify_signatures(image.repository, image.digest, self.key)

    def attestations(self, image: ResolvedImage, predicate_type: str) -> Verified:
        verifier = ImageVerifier(image.registry)
        if self.keyless is not None:
            return verifier.verify_attestations_keyless(
                image.repository, image.digest, self.keyless, predicate_type
            )
        assert self.key is not None
        return verifier.verify_attestations(
            image.repository, image.digest, self.key, predicate_type
        )


def _trust(
    key: Path | None, identity: str | None, issuer: str | None, trusted_root: Path | None
) -> _Trust:
    """A public key, or keyless: identity + issuer + trusted root (all three)."""
    keyless = (identity, issuer, trusted_root)
    if key is not None:
        if any(value is not None for value in keyless):
            raise SigningError("pass either --key or the keyless options, not both")
        return _Trust(key=load_public_key(_read(key, "public key")))
    if identity is None or issuer is None or trusted_root is None:
        raise SigningError(
            "nothing to verify against",
            hint="pass --key cosign.pub, or --certificate-identity, "
            "--certificate-oidc-issuer and --trusted-root",
        )
    return _Trust(keyless=KeylessVerifier(KeylessPolicy(trusted_root, identity, issuer)))


def _trust_options(command: Callable[..., None]) -> Callable[..., None]:
    """--key, or the keyless --certificate-identity / --certificate-oidc-issuer /
    --trusted-root, as cosign names them."""
    for option in reversed(
        (
            click.option("--key", type=click.Path(path_type=Path), help="the signer's cosign.pub"),
            click.option("--certificate-identity", help="keyless: expected signer"),
            click.option("--certificate-oidc-issuer", help="keyless: expected issuer"),
            click.option(
                "--trusted-root",
                type=click.Path(path_type=Path),
                help="keyless: Sigstore trusted_root.json",
            ),
        )
    ):
        command = option(command)
    return command


@app.command("verify")
@click.argument("image")
@_trust_options
def verify(
    image: str,
    key: Path | None,
    certificate_identity: str | None,
    certificate_oidc_issuer: str | None,
    trusted_root: Path | None,
) -> None:
    """Verify IMAGE's signatures (public key or keyless); print the verified payloads."""
    with _errors_exit():
        trust = _trust(key, certificate_identity, certificate_oidc_issuer, trusted_root)
        with _resolve(image) as resolved:
            verified = trust.signatures(resolved)
        click.echo(f"Verification for {resolved.name}@{resolved.digest} --", err=True)
        click.echo(f"  - The signatures were verified against {trust.described}", err=True)
        _print_json(verified.documents)


@app.command("attest")
@click.argument("image")
@key_option
@type_option
@click.option("--predicate", type=click.Path(path_type=Path), help="predicate file")
@click.pass_context
def attest(
    ctx: click.Context, image: str, key: Path, type_name: str, predicate: Path | None
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
        click.echo(f"Pushed attestation for {resolved.name}@{resolved.digest}", err=True)


@app.command("verify-attestation")
@click.argument("image")
@_trust_options
@type_option
def verify_attestation(
    image: str,
    key: Path | None,
    certificate_identity: str | None,
    certificate_oidc_issuer: str | None,
    trusted_root: Path | None,
    type_name: str,
) -> None:
    """Verify IMAGE's attestations of --type (public key or keyless); print the statements."""
    with _errors_exit():
        trust = _trust(key, certificate_identity, certificate_oidc_issuer, trusted_root)
        with _resolve(image) as resolved:
            verified = trust.attestations(resolved, predicate_type_uri(type_name))
        click.echo(f"Verification for {resolved.name}@{resolved.digest} --", err=True)
        click.echo(f"  - The attestations were verified against {trust.described}", err=True)
        _print_json(verified.documents)
