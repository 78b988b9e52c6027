"""GraphiQL page and its asset whitelist, served from the repo's own node_modules."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route

from infra.http.graphiql import (
    ASSETS,
    graphiql_assets_app,
    graphiql_assets_available,
    graphiql_html,
    graphiql_unavailable_html,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
NODE_MODULES = REPO_ROOT / "node_modules"
ASSETS_PREFIX = "/graphiql/"


class _PageParts(HTMLParser):
    """Every URL the page makes the browser load, its inline scripts and its CSP."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self.json_blocks: dict[str, str] = {}
        self.csp = ""
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        for name in ("src", "href", "srcset", "poster", "data", "action"):
            value = attributes.get(name)
            if value is not None:
                self.urls.append(value)
        if tag == "meta" and attributes.get("http-equiv") == "Content-Security-Policy":
            self.csp = attributes.get("content") or ""
        if tag == "script" and "src" not in attributes:
            self._script = attributes

    def handle_data(self, data: str) -> None:
        if self._script is None:
            return
        if self._script.get("type") == "application/json":
            self.json_blocks[self._script.get("id") or ""] = data
        else:
            self.inline_scripts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None


def _parse(page: str) -> _PageParts:
    parts = _PageParts()
    parts.feed(page)
    parts.close()
    return parts


def _app(node_modules: Path) -> Starlette:
    # What the real server does: the page when the assets are installed, the hint otherwise.
    async def graphiql(request: Request) -> Response:
        if graphiql_assets_available(node_modules):
            return HTMLResponse(graphiql_html(endpoint="/graphql", assets_prefix=ASSETS_PREFIX))
        return HTMLResponse(graphiql_unavailable_html(node_modules), status_code=503)

    return Starlette(
        routes=[
            Route("/graphql", graphiql, methods=["GET"]),
            Mount(ASSETS_PREFIX.rstrip("/"), app=graphiql_assets_app(node_modules)),
        ]
    )


@asynccontextmanager
async def _client(node_modules: Path) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(node_modules))
    async with httpx.AsyncClient(transport=transport, base_url="http://caregraph.test") as client:
        yield client


@pytest.fixture(scope="module")
def installed_node_modules() -> Path:
    assert graphiql_assets_available(NODE_MODULES), (
        f"GraphiQL assets missing under {NODE_MODULES}: run `npm ci` in the repo root"
    )
    return NODE_MODULES


async def test_page_references_only_same_origin_assets(installed_node_modules: Path) -> None:
    async with _client(installed_node_modules) as client:
        response = await client.get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 200
    page = _parse(response.text)
    loaded = [url for url in page.urls if not url.startswith("data:")]
    assert sorted(loaded) == sorted(ASSETS_PREFIX + name for name in ASSETS)
    assert re.findall(r"\b(?:https?|wss?)://", response.text) == []


async def test_every_referenced_asset_is_served_with_its_type(
    installed_node_modules: Path,
) -> None:
    async with _client(installed_node_modules) as client:
        page = _parse((await client.get("/graphql")).text)
        responses = {
            url: await client.get(url) for url in page.urls if url.startswith(ASSETS_PREFIX)
        }

    assert len(responses) == len(ASSETS)
    for url, response in responses.items():
        name = url.removeprefix(ASSETS_PREFIX)
        expected_type = "text/javascript" if name.endswith(".js") else "text/css"
        assert response.status_code == 200, url
        assert response.headers["content-type"].split(";")[0] == expected_type, url
        assert "max-age=31536000" in response.headers["cache-control"], url
        assert response.headers["x-content-type-options"] == "nosniff", url
        assert response.content == (installed_node_modules / ASSETS[name]).read_bytes(), url


@pytest.mark.parametrize(
    "path",
    [
        "/graphiql/../package.json",
        "/graphiql/..%2Fpackage.json",
        "/graphiql/..%2F..%2Fpackage.json",
        "/graphiql/react/index.js",
        "/graphiql/react%2Findex.js",
        "/graphiql/react/umd/react.production.min.js",
        "/graphiql/graphiql.min.js.map",
        "/graphiql/package.json",
        "/graphiql/",
    ],
)
async def test_paths_outside_the_whitelist_are_not_found(
    installed_node_modules: Path, path: str
) -> None:
    async with _client(installed_node_modules) as client:
        response = await client.get(path)

    assert response.status_code == 404


async def test_unavailable_page_when_node_modules_lacks_the_assets(tmp_path: Path) -> None:
    empty = tmp_path / "node_modules"
    (empty / "react" / "umd").mkdir(parents=True)
    (empty / "react" / "umd" / "react.production.min.js").write_text("/* react */")

    async with _client(empty) as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        asset = await client.get(ASSETS_PREFIX + "graphiql-3.8.3.min.js")

    assert not graphiql_assets_available(empty)
    assert page.status_code == 503
    assert "POST /graphql" in page.text
    assert "npm ci" in page.text
    assert "make run" in page.text
    assert "graphiql/graphiql.min.js" in page.text
    assert "react/umd/react.production.min.js" not in page.text  # that one is installed
    assert _parse(page.text).urls == []
    assert asset.status_code == 404


def test_asset_names_carry_the_pinned_package_versions() -> None:
    # The year-long cache is only safe because a version bump renames the file.
    manifest = json.loads((REPO_ROOT / "package.json").read_text())
    pinned: dict[str, str] = {**manifest["dependencies"], **manifest.get("devDependencies", {})}
    for name, relative in ASSETS.items():
        parts = relative.split("/")
        package = "/".join(parts[:2]) if relative.startswith("@") else parts[0]
        assert f"-{pinned[package]}." in name, (name, package, pinned[package])


def test_page_config_reaches_the_bootstrap_as_data() -> None:
    hostile = "/graphql?</script><script>alert(1)</script>"
    page = _parse(graphiql_html(endpoint=hostile, assets_prefix=ASSETS_PREFIX))
    config = json.loads(page.json_blocks["graphiql-config"])
    assert config["endpoint"] == hostile
    assert config["subscriptionsEndpoint"] is None
    assert len(page.inline_scripts) == 1

    explicit = graphiql_html(
        endpoint="/graphql", assets_prefix=ASSETS_PREFIX, subscriptions_endpoint="/graphql/ws"
    )
    config = json.loads(_parse(explicit).json_blocks["graphiql-config"])
    assert config["subscriptionsEndpoint"] == "/graphql/ws"


def test_content_security_policy_allows_exactly_the_inline_bootstrap() -> None:
    page = _parse(graphiql_html(endpoint="/graphql", assets_prefix=ASSETS_PREFIX))
    (bootstrap,) = page.inline_scripts
    digest = base64.b64encode(hashlib.sha256(bootstrap.encode()).digest()).decode()

    directives = dict(d.strip().split(" ", 1) for d in page.csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == f"'self' 'sha256-{digest}'"
    assert directives["connect-src"] == "'self'"


@pytest.mark.parametrize("prefix", ["https://unpkg.com/", "//cdn.example/", "graphiql/"])
def test_assets_prefix_must_be_a_same_origin_path(prefix: str) -> None:
    with pytest.raises(ValueError, match="same-origin"):
        graphiql_html(endpoint="/graphql", assets_prefix=prefix)
