"""An analyst's round trip through GraphiQL in real headless Chromium, against `caregraph serve`.

The browser side lives in ``tests/browser/graphiql.mjs``; it fails on any request that leaves
the server's host, so this also proves the page works on a closed network.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Protocol

import httpx

REPO_ROOT = Path(__file__).resolve().parents[3]
SCRIPT = REPO_ROOT / "tests" / "browser" / "graphiql.mjs"
CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_S = 90

SIGN_UP = """
mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } } }
"""


class LiveServer(Protocol):
    @property
    def url(self) -> str: ...


def _node_with_browser() -> str:
    # A missing browser fails the test rather than skipping it: an unexercised GraphiQL must
    # not look green.
    assert CHROMIUM.is_file(), (
        f"{CHROMIUM} is missing: `make test` installs it (apt-get install -y chromium)"
    )
    node = shutil.which("node")
    assert node is not None, "node is missing: install Node.js, then `npm ci` in the repo root"
    assert (REPO_ROOT / "node_modules" / "playwright-core").is_dir(), (
        "playwright-core is missing: run `npm ci` in the repo root (`make test` does)"
    )
    return node


async def test_analyst_runs_me_query_in_graphiql(live_server: LiveServer, tmp_path: Path) -> None:
    # given Chromium, node with playwright-core, and a signed-up user
    node = _node_with_browser()
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        signed_up = await client.post(
            "/graphql",
            json={
                "query": SIGN_UP,
                "variables": {
                    "i": {
                        "email": f"analyst-{uuid.uuid4().hex}@example.org",
                        "password": "correct horse battery staple",
                        "displayName": "GraphiQL Analyst",
                    }
                },
            },
        )
    body = signed_up.json()
    assert signed_up.status_code == 200 and "errors" not in body, body
    token = body["data"]["signUp"]["accessToken"]
    user_id = body["data"]["signUp"]["user"]["id"]

    # when the script types `{ me { id } }` and the token into GraphiQL and runs it
    env = dict(os.environ)
    env.setdefault("GRAPHIQL_SCREENSHOT", str(tmp_path / "graphiql.png"))
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        f"{live_server.url}/graphql",
        token,
        user_id,
        cwd=REPO_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{SCRIPT.name} ran longer than {TIMEOUT_S} s") from None

    # then the result pane showed the user's own id and nothing left the server's host
    report = f"stdout:\n{stdout.decode()}\nstderr:\n{stderr.decode()}"
    assert process.returncode == 0, report
    outcome = json.loads(stdout.decode().strip().splitlines()[-1])
    assert outcome["result"]["data"] == {"me": {"id": user_id}}, report
    assert outcome["externalRequests"] == [], report
