"""The console in Debian's Chromium (driven by Playwright) against a running service.

One service (embedded mode: SQLite, in-process workers, real Syft) behind a real
registry, three images pushed to it and scanned, one browser: sign in, read every
page, find an image by CVE id, add an allowlist entry as admin and see the decision
change, be refused as read scope, sign out. Screenshots go to docs/console/.

The advisories are fixtures (CVE-2099-*) in the OSV format, for Debian packages of the
images, so that the findings and the decisions are known in advance.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from service.api.app import create_app
from service.auth.tokens import Scope
from service.secret import Secret
from service.settings import Settings
from service.store.advisories import VulnStore
from service.store.database import make_engine
from service.vulndb.feeds.osv import OSVFeed
from tests.integration.service_support import (
    LOOPBACK_REGISTRIES,
    VENV_BIN,
    WEBHOOK_SECRET,
    api_token,
    finished_scan,
    notifying_registry,
    wait_for,
)
from tests.support.oci import ImageSpec, push, write_image
from tests.unit.admission.reviews import pod_spec, review, workload

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"

BUNDLE = """
name: default
default: gate
policies:
  - name: gate
    rules:
      - {id: scanned, type: scan_status, action: block}
      - {id: critical, type: severity_gate, action: block, severity: critical}
      - {id: high, type: severity_gate, action: warn, severity: high}
"""
# package -> (version in the images, [(advisory, severity, fixed version or None)])
PACKAGES: dict[str, tuple[str, list[tuple[str, str, str | None]]]] = {
    "openssl": ("3.0.11-1", [("CVE-2099-0001", "CRITICAL", "3.0.12-1")]),
    "curl": ("7.88.1-10", [("CVE-2099-0002", "HIGH", None)]),
    "zlib1g": ("1.2.13-1", [("CVE-2099-0003", "MEDIUM", "1.2.13-2")]),
    "libc6": ("2.36-9", []),
}
IMAGES = {  # repository -> packages
    "console/payments": ("openssl", "zlib1g", "libc6"),
    "console/web": ("curl", "zlib1g", "libc6"),
    "console/batch": ("libc6",),
}


def _osv_records(directory: Path) -> Path:
    directory.mkdir()
    for package, (_, advisories) in PACKAGES.items():
        for vuln_id, severity, fixed in advisories:
            events: list[dict[str, str]] = [{"introduced": "0"}]
            events += [{"fixed": fixed}] if fixed else []
            record = {
                "id": vuln_id,
                "modified": "2026-01-01T00:00:00Z",
                "aliases": [vuln_id.replace("CVE", "GHSA")],
                "summary": f"fixture advisory of {package}",
                "database_specific": {"severity": severity},
                "affected": [
                    {
                        "package": {"ecosystem": "Debian:12", "name": package},
                        "ranges": [{"type": "ECOSYSTEM", "events": events}],
                    }
                ],
            }
            (directory / f"{vuln_id}.json").write_text(json.dumps(record))
    return directory


def _dpkg_image(layout: Path, packages: tuple[str, ...]) -> None:
    status = "".join(
        f"Package: {name}\nStatus: install ok installed\nVersion: {PACKAGES[name][0]}\n"
        f"Architecture: amd64\nDescription: {name}\n\n"
        for name in packages
    )
    spec = ImageSpec(
        layers=[
            {
                "etc/os-release": b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
                "var/lib/dpkg/status": status.encode(),
            }
        ]
    )
    write_image(layout, spec, tag="1")


@dataclass(frozen=True)
class RunningConsole:
    url: str
    admin_token: str
    read_token: str
    registry_host: str
    digests: dict[str, str]  # repository -> digest


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningConsole]:
    tmp = tmp_path_factory.mktemp("console")
    engine = make_engine(f"sqlite:///{tmp / 'tollgate.db'}")
    VulnStore(engine).import_feed(OSVFeed("Debian", str(_osv_records(tmp / "osv"))))
    settings = Settings(
        data_dir=tmp / "data",
        webhook_secret=Secret(WEBHOOK_SECRET),
        syft_path=str(VENV_BIN / "syft"),
        embedded_workers=2,
        allowed_registries=LOOPBACK_REGISTRIES,  # the test registry is on loopback
    )
    admin = api_token(engine, "console-admin", Scope.ADMIN)
    reader = api_token(engine, "console-reader", Scope.READ)
    app = create_app(settings, engine=engine)
    with notifying_registry(app, tmp / "registry", admin) as (registry, client):
        bundle = client.put(
            "/api/v1/policies/default", content=BUNDLE, headers={"content-type": "text/yaml"}
        )
        assert bundle.status_code == 201, bundle.text
        digests = {}
        for repository, packages in IMAGES.items():
            layout = tmp / repository.replace("/", "-")
            _dpkg_image(layout, packages)
            digests[repository] = push(layout, "1", registry.host, repository)
        for repository in IMAGES:

            def scan_id(repository: str = repository) -> str | None:
                page = client.get("/api/v1/images", params={"repository": repository}).json()
                # the page and its total are two queries: a row committed between them
                # is counted but not listed, so wait for the row itself
                return page["items"][0]["last_scan_id"] if page["items"] else None

            scan = finished_scan(client, wait_for(scan_id, 120, f"{repository} was not scanned"))
            assert scan["status"] == "done", scan["error"]
        payments = f"{registry.host}/console/payments@{digests['console/payments']}"
        deployment = workload("Deployment", pod_spec(payments), name="checkout")
        answer = client.post("/api/v1/admission", json=review(deployment, namespace="shop"))
        assert answer.json()["response"]["allowed"] is False, answer.text
        yield RunningConsole(
            url=str(client.base_url).rstrip("/"),
            admin_token=admin,
            read_token=reader,
            registry_host=registry.host,
            digests=digests,
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/test-prerequisites installs it)")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS


def _signed_in(
    browser: Browser, service: RunningConsole, token: str, width: int = 1280
) -> tuple[BrowserContext, Page]:
    context = browser.new_context(
        base_url=service.url, viewport={"width": width, "height": 900 if width > 600 else 844}
    )
    page = context.new_page()
    page.goto("/")
    assert page.url.endswith("/signin")
    page.fill("#token", token)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{service.url}/")
    return context, page


def _reference(service: RunningConsole, repository: str) -> str:
    return f"{service.registry_host}/{repository}:1"


def test_sign_in_and_read_every_page(
    browser: Browser, service: RunningConsole, screenshots: Path
) -> None:
    context = browser.new_context(base_url=service.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/images")
    assert page.url.endswith("/signin")  # no page without a session
    page.screenshot(path=screenshots / "signin.png")
    page.fill("#token", service.admin_token)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{service.url}/")

    tiles = page.locator(".tiles").inner_text()
    assert "3\nimages" in tiles and "1\nblock" in tiles and "1\nwarn" in tiles
    assert page.locator("svg.chart rect").count() > 0  # the trend and severity charts
    assert "CVE-2099-0003" in page.locator(".card:has(h2:has-text('Most widespread'))").inner_text()
    page.screenshot(path=screenshots / "overview.png", full_page=True)

    page.click("nav >> text=Images")
    assert page.locator("tbody tr").count() == 3
    page.select_option("select[name=outcome]", "block")
    page.click("button:has-text('Filter')")
    rows = page.locator("tbody tr")
    assert rows.count() == 1 and "console/payments" in rows.inner_text()
    page.goto("/images?sort=risk")
    page.screenshot(path=screenshots / "images.png", full_page=True)

    page.click(f"text={_reference(service, 'console/payments')}")
    assert service.digests["console/payments"] in page.locator(".facts").first.inner_text()
    assert "3.0.12-1" in page.locator("section:has(h2:has-text('Findings'))").inner_text()
    page.fill("input[name=package]", "zlib")
    page.click("button:has-text('Search')")
    packages = page.locator("section:has(h2:has-text('Packages')) tbody tr")
    assert packages.count() == 1 and "zlib1g" in packages.inner_text()
    page.goto(f"/images/{service.digests['console/payments']}")
    layers = page.locator("#layers").inner_text()
    assert "Efficiency" in layers and "No credential file in any layer." in layers
    page.screenshot(path=screenshots / "image.png", full_page=True)
    sbom = page.request.get(
        f"/images/{service.digests['console/payments']}/sbom?format=spdx-json"
    ).json()
    assert {"openssl", "zlib1g", "libc6"} <= {p["name"] for p in sbom["packages"]}

    page.click("nav >> text=Policies")
    assert "gate" in page.locator("main").inner_text()
    page.screenshot(path=screenshots / "policies.png", full_page=True)
    page.click("nav >> text=Scans")
    assert page.locator("text=Decision log").count() == 1
    assert page.locator("section:has(h2:has-text('Decision log')) tbody tr").count() == 3
    assert "Deployment checkout" in page.locator("table.admissions").inner_text()
    page.screenshot(path=screenshots / "scans.png", full_page=True)
    page.click("nav >> text=VEX")
    assert "No VEX document." in page.locator("table.vex").inner_text()
    page.screenshot(path=screenshots / "vex.png", full_page=True)
    context.close()

    phone, page = _signed_in(browser, service, service.read_token, width=390)
    page.screenshot(path=screenshots / "overview-phone.png", full_page=True)
    phone.close()


def test_find_an_image_by_cve_id(
    browser: Browser, service: RunningConsole, screenshots: Path
) -> None:
    context, page = _signed_in(browser, service, service.read_token)
    page.fill("input[name=q]", "cve-2099-0003")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/vulnerabilities/CVE-2099-0003")
    text = page.locator("main").inner_text()
    assert "GHSA-2099-0003" in text and "1.2.13-2" in text
    for repository in ("console/payments", "console/web"):
        assert _reference(service, repository) in text
    assert _reference(service, "console/batch") not in text
    page.screenshot(path=screenshots / "vulnerability.png", full_page=True)
    seen = page.locator("section:has(h2:has-text('Where admission saw them'))").inner_text()
    assert "shop" in seen and "Deployment checkout" in seen and "denied" in seen
    # an alias finds the same advisory
    page.fill("input[name=q]", "GHSA-2099-0001")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/vulnerabilities/CVE-2099-0001")
    # a package name finds the images holding it
    page.fill("input[name=q]", "curl")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/search?q=curl")
    assert _reference(service, "console/web") in page.locator("main").inner_text()
    context.close()


def test_an_admin_allowlists_a_finding_and_the_decision_changes(
    browser: Browser, service: RunningConsole, screenshots: Path
) -> None:
    context, page = _signed_in(browser, service, service.admin_token)
    image = f"/images/{service.digests['console/payments']}"
    page.goto(image)
    assert "block" in page.locator("h1 .badge").inner_text()
    page.goto("/policies")
    form = page.locator("form.add-entry")
    form.locator("input[name=vulnerability]").fill("CVE-2099-0001")
    form.locator("input[name=repository]").fill("console/payments")
    form.locator("input[name=expires]").fill("2099-12-31")
    form.locator("input[name=reason]").fill("<script>alert(1)</script> mitigated by config")
    form.locator("button").click()
    page.wait_for_url("**/policies?changed=*")
    entry = page.locator("table.allowlist tbody tr").first.inner_text()
    assert "CVE-2099-0001" in entry and "2099-12-31" in entry
    assert "<script>alert(1)</script>" in entry  # shown as text, never run
    page.screenshot(path=screenshots / "allowlist.png", full_page=True)

    page.click("summary:has-text('versions')")
    page.click("a:has-text('changes')")
    added = page.locator(".diff .add").all_inner_texts()
    assert any("CVE-2099-0001" in line for line in added)
    page.screenshot(path=screenshots / "policy-diff.png", full_page=True)
    page.goto("/policies/default/dry-run")
    assert "most recently scanned images" in page.locator(".notice").inner_text()
    page.screenshot(path=screenshots / "policy-dry-run.png", full_page=True)

    _recorded_outcome(page, image, "pass")  # the service decides the image again
    dry_run = page.locator("#dry-run").inner_text()
    assert "pass" in dry_run and "v2" in dry_run
    assert "allowlisted" in page.locator("section:has(h2:has-text('Findings'))").inner_text()
    page.screenshot(path=screenshots / "image-after-allowlist.png", full_page=True)

    page.goto("/policies")
    page.locator("table.allowlist button:has-text('Expire')").first.click()
    page.wait_for_url("**/policies?changed=*")
    assert "expired" in page.locator("table.allowlist tbody tr").first.inner_text()
    _recorded_outcome(page, image, "block")
    assert "block" in page.locator("#dry-run").inner_text()

    page.click("nav >> text=Tokens")
    form = page.locator("form.create-token")
    form.locator("input[name=name]").fill("ci <pipeline>")
    form.locator("button").click()
    created = page.locator(".created-token input").input_value()
    assert created.startswith("tg_")
    page.screenshot(path=screenshots / "tokens.png", full_page=True)
    page.goto("/admin/tokens")
    assert (
        created not in page.content()
        and "ci <pipeline>" in page.locator("table.tokens").inner_text()
    )
    context.close()


def _recorded_outcome(page: Page, image: str, outcome: str, timeout: float = 60) -> None:
    """Reload ``image`` until its recorded decision is ``outcome`` (decided in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(image)
        if outcome in page.locator("h1 .badge").inner_text():
            return
        assert time.monotonic() < deadline, f"{image} was not decided {outcome} again"
        time.sleep(0.5)


def test_read_scope_is_refused_admin_and_scan_actions(
    browser: Browser, service: RunningConsole
) -> None:
    context, page = _signed_in(browser, service, service.read_token)
    page.goto("/policies")
    assert page.locator("form.add-entry").count() == 0
    page.goto(f"/images/{service.digests['console/web']}")
    assert page.locator("button:has-text('Rescan')").count() == 0
    assert page.locator("nav >> text=Tokens").count() == 0
    assert page.request.get("/admin/tokens").status == 403
    csrf = page.locator("form.signout input[name=csrf]").get_attribute("value") or ""
    refused = page.request.post(
        "/policies/default/allowlist",
        form={"csrf": csrf, "vulnerability": "CVE-2099-0002", "reason": "no"},
    )
    assert refused.status == 403 and "admin" in refused.text()
    refused = page.request.post(
        f"/images/{service.digests['console/web']}/rescan", form={"csrf": csrf}
    )
    assert refused.status == 403
    forged = page.request.post("/signout", form={"csrf": "forged"})
    assert forged.status == 403
    context.close()


def test_sign_out(browser: Browser, service: RunningConsole) -> None:
    context, page = _signed_in(browser, service, service.read_token)
    cookie = next(c for c in context.cookies() if c["name"] == "tollgate_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
    page.click("button:has-text('Sign out')")
    page.wait_for_url("**/signin")
    page.goto("/scans")
    assert page.url.endswith("/signin")
    context.close()
