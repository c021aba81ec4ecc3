"""OnDemandTransport: plain HTTP without a CA bundle, https always verified."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from service.registry.outbound import OutboundPolicy
from service.registry.transport import OnDemandTransport
from service.settings import Settings


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: object) -> None:
        pass


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _serve(server: HTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def plain_server() -> Iterator[str]:
    yield from _serve(HTTPServer(("127.0.0.1", 0), _Hello))


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[str]:
    cert, key = _self_signed(tmp_path)
    server = HTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


def test_plain_http_requests_are_served(plain_server: str) -> None:
    with httpx.Client(transport=OnDemandTransport()) as client:
        assert client.get(f"http://{plain_server}/").text == "hello"


def test_https_is_verified_even_after_plain_http(plain_server: str, tls_server: str) -> None:
    """The plain pool (verify=False) is never used for https: an untrusted certificate fails."""
    with httpx.Client(transport=OnDemandTransport()) as client:
        assert client.get(f"http://{plain_server}/").status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(f"https://{tls_server}/")


def test_a_pinned_https_connection_verifies_the_host_name_not_the_address(
    tls_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbound policy connects to the address it checked; TLS still names the host."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))
    port = tls_server.rsplit(":", 1)[1]
    policy = OutboundPolicy.from_settings(
        Settings(allowed_registries=["localhost:*", "other.test:*"]),
        resolver=lambda host, _: ["127.0.0.1"],
    )
    with httpx.Client(transport=policy.transport()) as client:
        assert client.get(f"https://localhost:{port}/").text == "hello"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(f"https://other.test:{port}/")  # same address, another name
