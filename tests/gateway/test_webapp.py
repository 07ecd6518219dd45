"""The web app at ``/app``: pages, hashed assets, caching, the content security policy, and a
committed build that matches the sources in ``web/``."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from chainflow.core.health import HealthReport
from chainflow.gateway.app import create_gateway
from chainflow.gateway.errors import install_error_handlers
from chainflow.gateway.webapp import WEBAPP_DIR, build_webapp_router, content_security_policy

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
# What web/build-info.ts hashes (keep the two lists equal).
HASHED_FILES = (
    "index.html",
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "vite.config.ts",
    "build-info.ts",
)
HASHED_DIRS = ("src", "public")
JS_BUDGET_GZIP_BYTES = 300 * 1024


def source_hash(web: Path) -> str:
    """SHA-256 of the web app's sources, exactly as ``web/build-info.ts`` computes it."""
    files = [web / name for name in HASHED_FILES if (web / name).is_file()]
    for folder in HASHED_DIRS:
        files += [p for p in (web / folder).rglob("*") if p.is_file()]
    digest = hashlib.sha256()
    for rel, path in sorted((p.relative_to(web).as_posix(), p) for p in files):
        data = path.read_bytes()
        digest.update(f"{rel}\n{len(data)}\n".encode())
        digest.update(data)
    return digest.hexdigest()


def build_info() -> dict:
    return json.loads((WEBAPP_DIR / "build-info.json").read_text())


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async def readiness() -> list[HealthReport]:
        return []

    app = create_gateway(
        title="t",
        version="0",
        routers=[],
        readiness=readiness,
        metrics_registry=CollectorRegistry(),
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://chainflow.test:8000") as c:
        yield c


def _asset_paths(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/app/assets/[^"]+)"', html)


def _directives(policy: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


class TestCommittedBuild:
    def test_build_matches_the_sources_in_web(self) -> None:
        assert build_info()["source_hash"] == source_hash(WEB), (
            "the committed web app build is older than web/: run `npm ci && npm run build` "
            "in web/ and commit src/chainflow/gateway/webapp/"
        )

    def test_every_listed_file_is_there_and_nothing_else(self) -> None:
        info = build_info()
        on_disk = {
            p.relative_to(WEBAPP_DIR).as_posix()
            for p in WEBAPP_DIR.rglob("*")
            if p.is_file() and p.name != "build-info.json"
        }
        assert on_disk == set(info["files"])
        for name, sizes in info["files"].items():
            assert (WEBAPP_DIR / name).stat().st_size == sizes["bytes"], name

    def test_first_load_javascript_is_under_budget(self) -> None:
        info = build_info()
        index = (WEBAPP_DIR / "index.html").read_text()
        referenced_js = {p.removeprefix("/app/") for p in _asset_paths(index) if p.endswith(".js")}
        assert referenced_js == set(info["initial_js"])
        gzipped = sum(
            len(gzip.compress((WEBAPP_DIR / name).read_bytes(), compresslevel=9))
            for name in referenced_js
        )
        # Node's zlib and Python's agree to a few hundred bytes, not to the byte.
        assert abs(gzipped - info["initial_js_gzip_bytes"]) < 0.01 * gzipped
        assert gzipped < JS_BUDGET_GZIP_BYTES

    def test_built_files_are_package_data(self) -> None:
        pyproject = (ROOT / "pyproject.toml").read_text()
        assert '"gateway/webapp/*"' in pyproject
        assert '"gateway/webapp/assets/*"' in pyproject


class TestPages:
    @pytest.mark.parametrize(
        "path", ["/app", "/app/", "/app/market", "/app/paper/x/y", "/app/login"]
    )
    async def test_every_client_route_answers_the_page(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.text == (WEBAPP_DIR / "index.html").read_text()

    async def test_the_page_has_a_strict_policy_and_no_inline_code(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/app/market")
        policy = _directives(response.headers["content-security-policy"])
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"]
        assert policy["connect-src"] == [
            "'self'",
            "ws://chainflow.test:8000",
            "wss://chainflow.test:8000",
        ]
        assert policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["base-uri"] == ["'none'"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        html = response.text
        assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", html))
        assert "<style" not in html and " style=" not in html
        assert "http://" not in html and "https://" not in html  # no CDN

    def test_a_malformed_host_adds_no_source(self) -> None:
        policy = content_security_policy("evil.test; script-src *")
        assert _directives(policy)["connect-src"] == ["'self'"]
        assert _directives(policy)["script-src"] == ["'self'"]

    async def test_etag_revalidation(self, client: httpx.AsyncClient) -> None:
        first = await client.get("/app")
        again = await client.get("/app", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""

    async def test_head(self, client: httpx.AsyncClient) -> None:
        response = await client.head("/app/market", headers={"Accept-Encoding": "identity"})
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(
            (WEBAPP_DIR / "index.html").read_bytes()
        )

    async def test_top_level_files(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/app/favicon.svg")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/svg+xml"
        assert response.headers["cache-control"] == "no-cache"

    async def test_not_in_the_openapi_document(self, client: httpx.AsyncClient) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert not [p for p in paths if p.startswith("/app")]


class TestAssets:
    async def test_hashed_assets_are_immutable_and_gzipped(self, client: httpx.AsyncClient) -> None:
        html = (await client.get("/app")).text
        paths = _asset_paths(html)
        assert {p.rsplit(".", 1)[1] for p in paths} == {"js", "css"}
        for path in paths:
            on_disk = (WEBAPP_DIR / path.removeprefix("/app/")).read_bytes()
            response = await client.get(path, headers={"Accept-Encoding": "gzip, br"})
            assert response.status_code == 200
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert response.headers["content-encoding"] == "gzip"
            assert response.headers["vary"] == "Accept-Encoding"
            assert response.content == on_disk  # httpx decoded the gzip
            expected = "application/javascript" if path.endswith(".js") else "text/css"
            assert response.headers["content-type"].startswith(expected)
            plain = await client.get(path, headers={"Accept-Encoding": "identity"})
            assert "content-encoding" not in plain.headers
            assert plain.content == on_disk

    async def test_gzip_refused_with_q0(self, client: httpx.AsyncClient) -> None:
        path = _asset_paths((await client.get("/app")).text)[0]
        response = await client.get(path, headers={"Accept-Encoding": "gzip;q=0"})
        assert "content-encoding" not in response.headers

    @pytest.mark.parametrize(
        "path",
        [
            "/app/assets/missing-abc123.js",
            "/app/assets/..%2F..%2Fwebapp.py",
            "/app/assets/.hidden",
            "/app/assets/%2e%2e",
            "/app/assets/sub/dir.js",
        ],
    )
    async def test_unknown_assets_are_404_not_cached(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert response.headers["cache-control"] == "no-store"


class TestEmailLinks:
    """Links in e-mails name paths at the root; they land in the app, query kept, uncached."""

    @pytest.mark.parametrize(
        ("path", "target"),
        [
            ("/verify-email?token=abc.DEF-123", "/app/verify-email?token=abc.DEF-123"),
            ("/reset-password?token=t%2Bk%3D&x=1", "/app/reset-password?token=t%2Bk%3D&x=1"),
            ("/backtests/01a2b3c4", "/app/backtests/01a2b3c4"),
            ("/backtests/01a2b3c4?tab=trades", "/app/backtests/01a2b3c4?tab=trades"),
        ],
    )
    async def test_redirect_into_the_app(
        self, client: httpx.AsyncClient, path: str, target: str
    ) -> None:
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["location"] == target
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        followed = await client.get(path, follow_redirects=True)
        assert followed.status_code == 200 and str(followed.url).endswith(target)
        assert followed.text == (WEBAPP_DIR / "index.html").read_text()

    async def test_head_redirects_too(self, client: httpx.AsyncClient) -> None:
        response = await client.head("/verify-email?token=x")
        assert response.status_code == 307
        assert response.headers["location"] == "/app/verify-email?token=x"
        assert response.headers["cache-control"] == "no-store"

    async def test_only_the_email_paths_redirect(self, client: httpx.AsyncClient) -> None:
        for path in ("/verify", "/backtests", "/backtests/a/b", "/reset-password/x"):
            response = await client.get(path, follow_redirects=False)
            assert response.status_code == 404, path


class TestWithoutABuild:
    async def test_a_missing_build_answers_503_with_the_fix(self, tmp_path: Path) -> None:
        app = FastAPI()
        install_error_handlers(app)
        app.include_router(build_webapp_router(tmp_path))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            response = await c.get("/app/market")
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "dependency_unavailable"
        assert "npm run build" in error["message"]
