"""GraphiQL for analysts, served entirely by CareGraph itself.

Hospital networks are often closed, so the page loads nothing from a CDN: React, GraphiQL and
the explorer plugin come from the npm packages pinned in ``package.json`` (``npm ci``) and are
served by :func:`graphiql_assets_app` from a whitelist, never ``node_modules`` wholesale. The
page also carries a Content-Security-Policy that lets the browser load scripts, styles and
connections from this origin only, so a future GraphiQL release that reaches for a CDN fails
loudly instead of leaking requests.

Public asset names carry the package version, which is what makes the year-long
``Cache-Control`` safe: a version bump changes the URL (``tests`` compare the names with
``package.json``).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

ASSETS: dict[str, str] = {
    "react-18.2.0.production.min.js": "react/umd/react.production.min.js",
    "react-dom-18.2.0.production.min.js": "react-dom/umd/react-dom.production.min.js",
    "graphiql-3.8.3.min.js": "graphiql/graphiql.min.js",
    "graphiql-3.8.3.min.css": "graphiql/graphiql.min.css",
    "plugin-explorer-1.0.2.umd.js": "@graphiql/plugin-explorer/dist/index.umd.js",
    "plugin-explorer-1.0.2.css": "@graphiql/plugin-explorer/dist/style.css",
}
"""Public file name → path relative to ``node_modules``. Nothing else is ever served."""

# Order matters: React before ReactDOM before GraphiQL (which reads both globals) before the
# explorer plugin (which reads ``GraphiQL.React`` and ``GraphiQL.GraphQL``).
_STYLESHEETS = ("graphiql-3.8.3.min.css", "plugin-explorer-1.0.2.css")
_SCRIPTS = (
    "react-18.2.0.production.min.js",
    "react-dom-18.2.0.production.min.js",
    "graphiql-3.8.3.min.js",
    "plugin-explorer-1.0.2.umd.js",
)

_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_CACHE_FOREVER = "public, max-age=31536000, immutable"

_DEFAULT_QUERY = """\
# CareGraph GraphiQL
#
# Authenticate in the Headers tab below:
#   {"Authorization": "Bearer <accessToken>"}
# An access token comes from the signIn or signUp mutation.
# Run with Ctrl-Enter or the play button; the explorer on the left builds queries.

query Me {
  me {
    id
    displayName
    role
  }
}
"""

# The bootstrap is a constant so that its hash can go into the Content-Security-Policy; the
# per-page values travel in the JSON block that it reads.
_BOOTSTRAP_JS = """
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("graphiql-config").textContent);
  var search = new URLSearchParams(window.location.search);

  function websocketUrl(target) {
    var url = new URL(target, window.location.href);
    if (url.protocol === "http:") url.protocol = "ws:";
    if (url.protocol === "https:") url.protocol = "wss:";
    url.hash = "";
    url.search = "";
    return url.toString();
  }

  var subscriptionUrl = websocketUrl(
    config.subscriptionsEndpoint === null ? window.location.pathname : config.subscriptionsEndpoint
  );
  var baseFetcher = GraphiQL.createFetcher({
    url: new URL(config.endpoint, window.location.href).toString(),
    subscriptionUrl: subscriptionUrl,
  });

  // GraphiQL sends the Headers editor as the graphql-transport-ws connection_init payload,
  // where the API reads "authorization" in lower case; HTTP does not mind the case.
  function lowerCaseKeys(headers) {
    var result = {};
    Object.keys(headers).forEach(function (name) { result[name.toLowerCase()] = headers[name]; });
    return result;
  }
  function fetcher(params, options) {
    if (options && options.headers) {
      options = Object.assign({}, options, { headers: lowerCaseKeys(options.headers) });
    }
    return baseFetcher(params, options);
  }

  // Created once: GraphiQL re-applies visiblePlugin whenever the plugins array changes.
  var explorer = GraphiQLPluginExplorer.explorerPlugin();
  var plugins = [explorer];

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: plugins,
      visiblePlugin: explorer,
      defaultQuery: config.defaultQuery,
      query: search.get("query") || undefined,
      variables: search.get("variables") || undefined,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    })
  );
})();
"""
_BOOTSTRAP_HASH = base64.b64encode(hashlib.sha256(_BOOTSTRAP_JS.encode()).digest()).decode()

_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<title>CareGraph GraphiQL</title>
<link rel="icon" href="data:,">
{stylesheets}
<style>
  html, body {{ height: 100%; margin: 0; }}
  #graphiql {{ height: 100vh; }}
</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<noscript>GraphiQL needs JavaScript. The API itself answers POST {endpoint}.</noscript>
<script type="application/json" id="graphiql-config">{config}</script>
{scripts}
<script>{bootstrap}</script>
</body>
</html>
"""

_UNAVAILABLE_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>CareGraph GraphiQL is not installed</title>
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 3rem auto;
         padding: 0 1rem; line-height: 1.5; }}
  code, pre {{ background: #f3f3f3; padding: 0.1rem 0.3rem; }}
</style>
</head>
<body>
<h1>GraphiQL is not installed on this server</h1>
<p>The API itself works: send <code>POST {endpoint}</code> with a JSON body
<code>{{"query": "...", "variables": {{...}}}}</code> and the header
<code>Authorization: Bearer &lt;accessToken&gt;</code>.</p>
<p>The in-browser explorer is served from local npm packages (no CDN), and these files are
missing from <code>{node_modules}</code>:</p>
<ul>
{missing}
</ul>
<p>To get it, run this in the repository root and restart the server
(<code>make run</code> does it for you when npm is installed):</p>
<pre>npm ci</pre>
</body>
</html>
"""


def graphiql_html(
    *, endpoint: str, assets_prefix: str, subscriptions_endpoint: str | None = None
) -> str:
    """Render the GraphiQL page.

    ``endpoint`` is where queries are POSTed; ``assets_prefix`` is the same-origin path where
    :func:`graphiql_assets_app` is mounted (for example ``"/graphiql/"``). Subscriptions use
    graphql-transport-ws at ``subscriptions_endpoint``, or, when it is ``None``, at the page's
    own URL with ``ws://`` / ``wss://``. The page honours ``?query=`` and ``?variables=``.
    """
    prefix = _same_origin_prefix(assets_prefix)
    config = {
        "endpoint": endpoint,
        "subscriptionsEndpoint": subscriptions_endpoint,
        "defaultQuery": _DEFAULT_QUERY,
    }
    stylesheets = "\n".join(
        f'<link rel="stylesheet" href="{html.escape(prefix + name)}">' for name in _STYLESHEETS
    )
    scripts = "\n".join(
        f'<script src="{html.escape(prefix + name)}"></script>' for name in _SCRIPTS
    )
    return _PAGE.format(
        csp=html.escape(_content_security_policy(endpoint, subscriptions_endpoint)),
        stylesheets=stylesheets,
        endpoint=html.escape(endpoint),
        config=_script_safe_json(config),
        scripts=scripts,
        bootstrap=_BOOTSTRAP_JS,
    )


def graphiql_unavailable_html(node_modules: Path, *, endpoint: str = "/graphql") -> str:
    """Render the page shown instead of GraphiQL when its npm packages are not installed."""
    missing = "\n".join(
        f"<li><code>{html.escape(relative)}</code></li>"
        for relative in ASSETS.values()
        if not (node_modules / relative).is_file()
    )
    return _UNAVAILABLE_PAGE.format(
        endpoint=html.escape(endpoint),
        node_modules=html.escape(str(node_modules)),
        missing=missing or "<li>(none now: restart the server)</li>",
    )


def graphiql_assets_available(node_modules: Path) -> bool:
    """Whether every whitelisted GraphiQL asset is installed under ``node_modules``."""
    return all((node_modules / relative).is_file() for relative in ASSETS.values())


def graphiql_assets_app(node_modules: Path) -> ASGIApp:
    """An ASGI app serving exactly the :data:`ASSETS` files by public name; 404 otherwise.

    Mount it at the ``assets_prefix`` given to :func:`graphiql_html`.
    """

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        relative = ASSETS.get(name)
        path = node_modules / relative if relative is not None else None
        if path is None or not path.is_file():
            return PlainTextResponse("Not Found", status_code=404)
        return FileResponse(
            path,
            media_type=_CONTENT_TYPES[Path(name).suffix],
            headers={"Cache-Control": _CACHE_FOREVER, "X-Content-Type-Options": "nosniff"},
        )

    return Starlette(routes=[Route("/{name}", asset, methods=["GET", "HEAD"])])


def _same_origin_prefix(assets_prefix: str) -> str:
    # A scheme or a protocol-relative "//host" would put the assets on another origin.
    if not assets_prefix.startswith("/") or assets_prefix.startswith("//"):
        raise ValueError(f"assets_prefix must be a same-origin path, got {assets_prefix!r}")
    return assets_prefix if assets_prefix.endswith("/") else assets_prefix + "/"


def _content_security_policy(endpoint: str, subscriptions_endpoint: str | None) -> str:
    connect = ["'self'"]
    for target in (endpoint, subscriptions_endpoint):
        parts = urlsplit(target or "")
        if parts.scheme and parts.netloc:
            connect.append(f"{parts.scheme}://{parts.netloc}")
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'self' 'sha256-{_BOOTSTRAP_HASH}'",
            "style-src 'self' 'unsafe-inline'",
            "font-src 'self' data:",
            "img-src 'self' data:",
            f"connect-src {' '.join(connect)}",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )


def _script_safe_json(value: object) -> str:
    # Inside <script> only "</" and "<!--" can end or confuse the element; escape all of <>&.
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
