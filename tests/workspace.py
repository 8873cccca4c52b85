"""For the workspace's tests: people in the partner directory, the app served by uvicorn on a
free port, Debian's Chromium driven by Playwright, and axe-core injected from web/node_modules."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from httpx import AsyncClient

from tests.smtp import free_port

ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
# The README's pictures are taken again only when asked (CSPR_SCREENSHOTS=docs/screenshots):
# an ordinary run writes them to a scratch folder and leaves the committed ones as they are.
SCREENSHOTS = Path(os.environ.get("CSPR_SCREENSHOTS")
                   or Path(tempfile.gettempdir()) / "cspr-screenshots")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PARTNERS = ("local_authority", "health", "police")


@dataclass(frozen=True)
class Directory:
    """The people a test signs in as, by role (and partner), with names of this run's own."""

    coordinator: str
    ssl: dict[str, str]
    dsp: dict[str, str]
    email: dict[str, str]  # name -> e-mail address


async def seed_directory(api: AsyncClient) -> Directory:
    """Three partner organisations with an SSL and a DSP each, a MARS coordinator and a
    reviewer."""
    run = uuid.uuid4().hex[:6]
    email: dict[str, str] = {}

    async def person(org_id: int, name: str, role: str) -> str:
        address = f"{re.sub(r'[^a-z]+', '.', name.lower()).strip('.')}.{run}@cspr.test"
        r = await api.post(f"/v1/directory/organisations/{org_id}/people",
                           json={"name": name, "email": address, "role": role})
        assert r.status_code == 201, r.text
        email[name] = address
        return name

    ssl: dict[str, str] = {}
    dsp: dict[str, str] = {}
    coordinator = ""
    for partner in PARTNERS:
        r = await api.post("/v1/directory/organisations", json={
            "name": f"{partner.replace('_', ' ').title()} {run}", "kind": "partner",
            "partner": partner})
        assert r.status_code == 201, r.text
        org_id = r.json()["id"]
        ssl[partner] = await person(org_id, f"Sam {partner.title()} SSL {run}", "ssl")
        dsp[partner] = await person(org_id, f"Dee {partner.title()} DSP {run}", "dsp")
        if partner == "local_authority":
            coordinator = await person(org_id, f"Morgan Coordinator {run}", "mars_team")
            # A reviewer the case page offers to assign to an LCSPR.
            await person(org_id, f"Riley Reviewer {run}", "reviewer")
    return Directory(coordinator, ssl, dsp, email)


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app (its lifespan already run by the fixture) on a free port of this machine."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(),
                                           lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def axe_violations(page: Any) -> list[str]:
    """axe-core's WCAG 2.2 A and AA violations on the page, as "rule: target" lines."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values:
            ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}});
        return r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '));
    }""")
    return list(result)
