"""The console's security contract without a browser: sessions, cookies, CSRF, scopes,
headers, escaping; and the allowlist change a dry run shows (the browser test in
tests/integration/test_console_browser.py drives the same pages in Chromium)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from service.auth.tokens import Scope
from service.catalog.model import Catalog, ImageSubject, Package, PackageType
from service.console.rendering import CONTENT_SECURITY_POLICY
from service.console.session import SESSION_COOKIE, SessionSigner
from service.layers.model import (
    Efficiency,
    Inefficiency,
    LayerAnalysis,
    LayerSummary,
    SecretFile,
    SecretKind,
)
from service.store.admissions import AdmissionEvent, AdmissionLog
from service.store.catalogs import CatalogStore
from service.store.images import ImageStore, ImageSubjectInfo
from service.store.policies import PolicyStore
from service.store.tokens import TokenStore
from service.store.vex import VexStore
from service.vulndb.ecosystems import matchable
from service.vulndb.model import (
    ExploitPrediction,
    Finding,
    KnownExploited,
    PackageRef,
    Severity,
)
from tests.unit.admission.reviews import pod_spec, review, workload
from tests.unit.api.conftest import token
from tests.unit.jobs.fakes import apply_tiered_bundle

PAGES = ("/", "/images", "/policies", "/scans", "/search?q=openssl")
BLOCKED = "127.0.0.1:5000/apps/openssl-zlib:1"


def bearer(engine: Engine, *scopes: Scope) -> str:
    return token(engine, *scopes)["Authorization"].split()[1]


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, api_token: str) -> str:
    """Signs ``client`` in; returns the CSRF token of its session."""
    form = client.get("/signin")
    answer = client.post("/signin", data={"token": api_token, "csrf": csrf_of(form.text)})
    assert answer.url.path == "/", answer.text
    return csrf_of(answer.text)


@pytest.fixture
def scanned(client: TestClient, admin: dict[str, str], engine: Engine) -> dict[str, str]:
    """Three scanned images (one blocked by a critical finding): reference -> digest."""
    apply_tiered_bundle(engine)
    for repo in ("openssl-zlib", "openssl", "bash"):
        image = f"127.0.0.1:5000/apps/{repo}:1"
        assert client.post("/api/v1/scans", json={"image": image}, headers=admin).is_success
    items = client.get("/api/v1/images", headers=admin).json()["items"]
    return {i["reference"]: i["digest"] for i in items}


def test_no_page_without_a_session_but_sign_in_and_static_assets(client: TestClient, scanned):
    digest = scanned[BLOCKED]
    admin_pages = ("/admin/tokens", "/admin/vex")
    for path in (
        *PAGES,
        *admin_pages,
        f"/images/{digest}",
        f"/images/{digest}/sbom",
        "/vulnerabilities/X-1",
    ):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/signin", path
    assert client.get("/signin").status_code == 200
    css = client.get("/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    # The API keeps its own bearer authentication beside the console.
    assert client.get("/api/v1/images").status_code == 401


def test_sign_in_sets_a_strict_http_only_expiring_cookie_and_sign_out_ends_it(
    client: TestClient, engine: Engine
):
    form = client.get("/signin")
    wrong = client.post("/signin", data={"token": "tg_wrong", "csrf": csrf_of(form.text)})
    assert wrong.status_code == 401 and "not valid" in wrong.text
    answer = client.post(
        "/signin",
        data={"token": bearer(engine, Scope.READ), "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "max-age", "path", "samesite"} <= flags and "secure" not in flags
    assert "samesite=strict" in cookie.lower()
    assert client.get("/").status_code == 200

    csrf = csrf_of(client.get("/").text)
    client.post("/signout", data={"csrf": csrf})
    assert client.get("/", follow_redirects=False).status_code == 303


def test_the_cookie_is_secure_over_tls(client: TestClient, engine: Engine):
    client.base_url = client.base_url.copy_with(scheme="https")
    form = client.get("/signin")
    answer = client.post(
        "/signin",
        data={"token": bearer(engine, Scope.READ), "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "secure" in cookie.lower()


def test_forms_without_their_csrf_token_are_refused(client: TestClient, engine: Engine, scanned):
    # sign-in itself needs the token of its form (no login CSRF)
    refused = client.post("/signin", data={"token": bearer(engine, Scope.ADMIN), "csrf": "x"})
    assert refused.status_code == 403
    sign_in(client, bearer(engine, Scope.ADMIN))
    entry = {"vulnerability": "CVE-2024-0001", "reason": "r"}
    for path, data in (
        ("/policies/default/allowlist", entry),
        ("/policies/default/allowlist", {**entry, "csrf": "forged"}),
        (f"/images/{scanned[BLOCKED]}/rescan", {}),
        ("/signout", {}),
    ):
        answer = client.post(path, data=data)
        assert answer.status_code == 403 and "CSRF" in answer.text, path
    assert PolicyStore(engine).latest_version("default") == 1
    assert client.get("/").status_code == 200  # still signed in


def test_a_tampered_or_expired_session_is_no_session(client: TestClient, engine: Engine):
    sign_in(client, bearer(engine, Scope.READ))
    genuine = client.cookies[SESSION_COOKIE]
    body, _, mac = genuine.rpartition(".")
    client.cookies.set(SESSION_COOKIE, f"{body}x.{mac}")
    assert client.get("/", follow_redirects=False).status_code == 303
    signer = SessionSigner(b"k" * 32, ttl_seconds=60, clock=lambda: 1000.0)
    cookie = signer.issue("hash")
    assert signer.read(cookie) is not None
    later = SessionSigner(b"k" * 32, ttl_seconds=60, clock=lambda: 1061.0)
    assert later.read(cookie) is None
    assert SessionSigner(b"j" * 32).read(cookie) is None


def test_every_page_has_the_strict_content_security_policy(client: TestClient, engine, scanned):
    sign_in(client, bearer(engine, Scope.READ))
    for path in (*PAGES, f"/images/{scanned[BLOCKED]}", "/vulnerabilities/CVE-2024-0001"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "script-src" not in CONTENT_SECURITY_POLICY  # default-src 'none': no script
        assert answer.headers["x-frame-options"] == "DENY"
        assert "<script" not in answer.text


def test_read_scope_is_refused_admin_and_scan_actions(client: TestClient, engine, scanned):
    csrf = sign_in(client, bearer(engine, Scope.READ))
    policies = client.get("/policies").text
    assert "Add allowlist entry" not in policies  # the forms are not offered ...
    entry = {"vulnerability": "CVE-2024-0001", "reason": "accepted", "csrf": csrf}
    answer = client.post("/policies/default/allowlist", data=entry)
    assert answer.status_code == 403 and "admin" in answer.text  # ... nor accepted
    answer = client.post(f"/images/{scanned[BLOCKED]}/rescan", data={"csrf": csrf})
    assert answer.status_code == 403 and "scan" in answer.text
    assert PolicyStore(engine).latest_version("default") == 1


def test_an_allowlist_entry_added_by_an_admin_decides_the_image_again(
    client: TestClient, engine: Engine, scanned
):
    csrf = sign_in(client, bearer(engine, Scope.ADMIN))
    image = f"/images/{scanned[BLOCKED]}"
    before = client.get(image).text
    assert 'class="badge block">block' in before and "turns this image" not in before
    entry = {"vulnerability": "CVE-2024-0001", "reason": "patched in place", "csrf": csrf}
    stored = client.post("/policies/default/allowlist", data=entry)
    assert "Stored default v2" in stored.text and "patched in place" in stored.text
    after = client.get(image).text  # the recorded decision: decided again at once here
    assert 'class="badge warn">warn' in after and "turns this image" not in after
    assert "<td>allowlisted</td>" in after
    assert PolicyStore(engine).latest_decision(scanned[BLOCKED]).trigger == (  # type: ignore[union-attr]
        "policy bundle default v2"
    )

    expired = client.post(
        "/policies/default/allowlist/expire",
        data={"vulnerability": "CVE-2024-0001", "policy": "strict", "csrf": csrf},
    )
    assert "Stored default v3" in expired.text and 'class="badge block">expired' in expired.text


def test_user_controlled_strings_render_as_text(client: TestClient, engine: Engine):
    evil = "<script>alert(1)</script>"
    digest = "sha256:" + "e" * 64
    package = PackageRef(name=evil, version="1<b>", type="deb", purl=None)
    ImageStore(engine).record(
        ImageSubjectInfo(digest, f"reg/{evil}:1", "reg", evil, "linux/amd64", 1),
        [Finding(id=evil, severity=Severity.HIGH, package=package, source="t")],
        scan_id=None,
    )
    catalog = Catalog(
        image=ImageSubject(reference=evil, digest=digest, platform="linux/amd64"),
        packages=(Package(name=evil, version="1", type=PackageType.DEB),),
        engine="t",
        engine_version="1",
    )
    CatalogStore(engine).save(catalog, matchable(catalog))
    # what whoever creates a Pod names: namespace, workload, image
    AdmissionLog(engine).record(
        [
            AdmissionEvent(
                datetime.now(UTC),
                "u",
                "CREATE",
                evil,
                evil,
                evil,
                evil,
                digest,
                "block",
                False,
                evil,
            )
        ]
    )
    openvex = '{"@context": "https://openvex.dev/ns/v0.2.0", "@id": "urn:x", "statements": []}'
    VexStore(engine).add(evil, openvex, author=evil)
    sign_in(client, bearer(engine, Scope.ADMIN))
    for path in (
        "/",
        "/images",
        f"/images/{digest}",
        f"/search?q={evil}",
        "/scans",
        "/admin/vex",
    ):
        page = client.get(path).text
        assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


def test_console_forms_are_bounded_like_the_api(client: TestClient, engine: Engine):
    """The request guard bounds console bodies too; the session, not a bearer token, is
    what the console checks (a form POST is not refused as a token-less API call)."""
    form = client.get("/signin")
    huge = {"token": "x" * (2 << 20), "csrf": csrf_of(form.text)}
    assert client.post("/signin", data=huge).status_code == 413
    wrong = client.post("/signin", data={"token": "tg_wrong", "csrf": csrf_of(form.text)})
    assert wrong.status_code != 401 or "bearer" not in wrong.text


def test_the_vulnerability_page_shows_where_admission_saw_its_images(
    client: TestClient, engine: Engine, scanned
):
    hook = {"Authorization": f"Bearer {bearer(engine, Scope.WEBHOOK)}"}
    blocked = f"127.0.0.1:5000/apps/openssl-zlib@{scanned[BLOCKED]}"
    clean = "127.0.0.1:5000/apps/bash:1"
    for name, image in (
        ("payments", blocked),
        ("shell", f"127.0.0.1:5000/apps/bash@{scanned[clean]}"),
    ):
        body = review(workload("Deployment", pod_spec(image), name=name), namespace="shop")
        assert client.post("/api/v1/admission", json=body, headers=hook).status_code == 200
    client.app.state.admission.recorder.flush()  # written in the background otherwise
    logged = AdmissionLog(engine).recent(10)
    assert {(e.name, e.namespace, e.kind) for e in logged} == {
        ("payments", "shop", "Deployment"),
        ("shell", "shop", "Deployment"),
    }
    sign_in(client, bearer(engine, Scope.READ))
    page = client.get("/vulnerabilities/CVE-2024-0001").text
    seen = page.split("Where admission saw them", 1)[1]
    assert "shop" in seen and "Deployment payments" in seen and "denied" in seen
    assert "shell" not in seen  # its image does not hold CVE-2024-0001
    log = client.get("/scans").text.split("Admission log", 1)[1]
    assert "Deployment payments" in log and "Deployment shell" in log


def test_known_exploited_and_epss_show_filter_and_count(client: TestClient, engine: Engine):
    digest = "sha256:" + "k" * 64
    package = Package(name="openssl", version="1", type=PackageType.DEB, purl="pkg:deb/d/openssl@1")
    ref = PackageRef(name="openssl", version="1", type="deb", purl=package.purl)
    exploited = Finding(
        id="CVE-2024-7777",
        severity=Severity.HIGH,
        severity_source="nvd",
        package=ref,
        source="t",
        kev=KnownExploited(date_added=date(2024, 5, 1), ransomware=True),
        epss=ExploitPrediction(score=0.875, percentile=0.99),
    )
    quiet = Finding(id="CVE-2024-1111", severity=Severity.CRITICAL, package=ref, source="t")
    catalog = Catalog(
        image=ImageSubject(reference="reg/kev:1", digest=digest, platform="linux/amd64"),
        packages=(package,),
        engine="t",
        engine_version="1",
    )
    catalogs = CatalogStore(engine)
    catalogs.save(catalog, matchable(catalog))
    catalogs.record_findings({digest: [quiet, exploited]}, 1)
    images = ImageStore(engine)
    images.record(
        ImageSubjectInfo(digest, "reg/kev:1", "reg", "kev", "linux/amd64", 1),
        [quiet, exploited],
        scan_id=None,
    )
    other = "sha256:" + "f" * 64
    images.record(
        ImageSubjectInfo(other, "reg/other:1", "reg", "other", "linux/amd64", 1), [], scan_id=None
    )
    sign_in(client, bearer(engine, Scope.READ))

    page = client.get(f"/images/{digest}?findings=kev").text
    rows = page.split('id="findings"', 1)[1].split("</table>", 1)[0].split("<tr>")
    assert "CVE-2024-7777" in rows[2]  # known-exploited first, though only high
    assert "known exploited" in rows[2] and "KEV since 2024-05-01 · ransomware" in rows[2]
    assert "EPSS 0.875" in rows[2] and "99th percentile" in rows[2] and "by nvd" in rows[2]
    assert (
        "CVE-2024-1111"
        in client.get(f"/images/{digest}").text.split("<tbody>")[1].split("</tr>")[0]
    )

    listed = client.get("/images?exploited=yes").text
    assert "reg/kev:1" in listed and "reg/other:1" not in listed
    assert "reg/other:1" in client.get("/images?exploited=no").text
    tiles = client.get("/").text.split('class="tiles"', 1)[1].split("</section>", 1)[0]
    assert re.search(r"<b>1</b><span>known-exploited findings</span>", tiles)
    top = client.get(
        "/api/v1/dashboard/top-vulnerabilities?sort=kev",
        headers={"Authorization": f"Bearer {bearer(engine, Scope.READ)}"},
    ).json()
    assert top[0]["id"] == "CVE-2024-7777" and top[0]["known_exploited"] and top[0]["epss"] == 0.875


def test_the_image_page_shows_layers_efficiency_and_secret_files(client: TestClient, engine):
    digest = "sha256:" + "1" * 64
    layers = LayerAnalysis(
        layers=(
            LayerSummary(
                index=0,
                digest="sha256:" + "a" * 64,
                size=5_000_000,
                compressed_size=2_000_000,
                created_by="ADD rootfs.tar /",
                files_added=120,
            ),
            LayerSummary(
                index=1,
                digest="sha256:" + "b" * 64,
                size=1_500,
                compressed_size=700,
                created_by="RUN rm /root/.ssh/id_rsa",
                files_removed=1,
            ),
        ),
        efficiency=Efficiency(
            score=0.875,
            wasted_bytes=3_200,
            size=5_001_500,
            user_size=1_500,
            wasted_user_percent=12.5,
            inefficiencies=(
                Inefficiency(path="root/.ssh/id_rsa", layers=2, cumulative_size=3_200),
            ),
        ),
        secret_files=(
            SecretFile(
                path="root/.ssh/id_rsa",
                layer="sha256:" + "a" * 64,
                layer_index=0,
                kind=SecretKind.PRIVATE_KEY,
                visible=False,
            ),
            SecretFile(
                path="app/<script>.env",
                layer="sha256:" + "b" * 64,
                layer_index=1,
                kind=SecretKind.DOTENV,
                visible=True,
            ),
        ),
    )
    ImageStore(engine).record(
        ImageSubjectInfo(digest, "reg/layers:1", "reg", "layers", "linux/amd64", 1, layers=layers),
        [],
        scan_id=None,
    )
    sign_in(client, bearer(engine, Scope.READ))
    page = client.get(f"/images/{digest}").text
    section = page.split('id="layers"', 1)[1]
    assert "87.5 %" in section and "3.2 kB" in section and "12.5 %" in section
    assert "RUN rm /root/.ssh/id_rsa" in section and "5.0 MB" in section
    secrets = section.split('class="secrets"', 1)[1].split("</table>", 1)[0]
    assert (
        "root/.ssh/id_rsa" in secrets
        and "private key" in secrets
        and "deleted by a later layer" in secrets
    )
    assert "app/&lt;script&gt;.env" in secrets and "<script>" not in page


def test_an_admin_creates_a_token_shown_once_and_revokes_it(client: TestClient, engine: Engine):
    csrf = sign_in(client, bearer(engine, Scope.ADMIN))
    assert "/admin/tokens" in client.get("/").text  # offered to admins
    form = {"csrf": csrf, "name": "<b>ci</b>", "scope_read": "on", "lifetime": "1d"}
    created = client.post("/admin/tokens", data=form)
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    secret = re.search(r'class="mono token" readonly value="([^"]+)"', created.text)
    assert secret, created.text
    api = {"Authorization": f"Bearer {secret.group(1)}"}
    assert client.get("/api/v1/images", headers=api).status_code == 200
    listing = client.get("/admin/tokens").text
    assert secret.group(1) not in listing and "&lt;b&gt;ci&lt;/b&gt;" in listing
    token_id = next(t.id for t in TokenStore(engine).list() if t.name == "<b>ci</b>")
    expires = next(t.expires_at for t in TokenStore(engine).list() if t.id == token_id)
    assert expires is not None  # 1d, as asked

    revoked = client.post(f"/admin/tokens/{token_id}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 200 and revoked.url.path == "/admin/tokens"
    assert client.get("/api/v1/images", headers=api).status_code == 401
    assert client.post("/admin/tokens/99999/revoke", data={"csrf": csrf}).status_code == 404


def test_an_admin_adds_vex_by_paste_or_upload_and_deletes_it(
    client: TestClient, engine: Engine, scanned
):
    digest = scanned[BLOCKED]
    assert ImageStore(engine).get(digest).policy_outcome == "block"
    critical = next(
        f for f in CatalogStore(engine).findings(digest) if f.severity is Severity.CRITICAL
    )
    product = (critical.package.purl or "").split("@")[0]
    document = json.dumps(
        {
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": "urn:vex:console",
            "statements": [
                {
                    "vulnerability": {"name": critical.id},
                    "products": [{"@id": product}],
                    "status": "not_affected",
                    "justification": "vulnerable_code_not_present",
                }
            ],
        }
    )
    csrf = sign_in(client, bearer(engine, Scope.ADMIN))
    bad = client.post("/admin/vex", data={"csrf": csrf, "name": "x", "content": '{"no": 1}'})
    assert bad.status_code == 400 and not VexStore(engine).documents()
    pasted = client.post("/admin/vex", data={"csrf": csrf, "name": "triage", "content": document})
    assert pasted.url.path == "/admin/vex" and "triage" in pasted.text
    assert ImageStore(engine).get(digest).policy_outcome != "block"  # decided again
    assert "VEX not_affected" in client.get(f"/images/{digest}").text
    (stored,) = VexStore(engine).documents()
    client.post(f"/admin/vex/{stored.id}/delete", data={"csrf": csrf})
    assert not VexStore(engine).documents()
    assert ImageStore(engine).get(digest).policy_outcome == "block"

    uploaded = client.post(
        "/admin/vex",
        data={"csrf": csrf, "name": "uploaded"},
        files={"file": ("vex.json", document.encode(), "application/json")},
    )
    assert uploaded.status_code == 200 and "uploaded" in uploaded.text
    assert [d.name for d in VexStore(engine).documents()] == ["uploaded"]
    forged = client.post(
        "/admin/vex", data={"csrf": "forged"}, files={"file": ("v.json", b"{}", "application/json")}
    )
    assert forged.status_code == 403 and "CSRF" in forged.text


def test_read_scope_is_refused_the_admin_pages(client: TestClient, engine: Engine):
    csrf = sign_in(client, bearer(engine, Scope.READ))
    assert "/admin/tokens" not in client.get("/").text
    for path in ("/admin/tokens", "/admin/vex"):
        answer = client.get(path)
        assert answer.status_code == 403 and "admin" in answer.text, path
    tokens = len(TokenStore(engine).list())
    for path, data in (
        ("/admin/tokens", {"name": "x", "scope_admin": "on"}),
        ("/admin/tokens/1/revoke", {}),
        ("/admin/vex", {"content": "{}"}),
    ):
        assert client.post(path, data={**data, "csrf": csrf}).status_code == 403, path
    assert len(TokenStore(engine).list()) == tokens and not any(
        t.revoked for t in TokenStore(engine).list()
    )
