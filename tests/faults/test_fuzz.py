"""Issue 11's schema-driven fuzz run: schemathesis generates requests for every operation of
the OpenAPI document, as four roles, against the real stack (the same processes as the fault
suite, with nothing failing), and checks that no answer is a server error but 503 and that every
answer (status, content type, headers, body) is what the document says.

Seeded and bounded (FUZZ_EXAMPLES per operation and phase): `CSPR_FAULT_SEED=<seed>` repeats a
run. The stateful phase follows the links schemathesis infers (a notification's Location to its
case, a case to its steps), on cases the partner walk below has opened.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.faults.partner import MARS, Partner, bearer, directory, notification
from tests.faults.run import Plan
from tests.faults.stack import Stack

FUZZ_EXAMPLES = int(os.environ.get("CSPR_FUZZ_EXAMPLES", "5"))
ROLES = {
    "mars_team": bearer("mars_team"),
    "dsp": bearer("dsp", "local_authority"),
    "agency": bearer("agency", "NHS Trust"),
    "admin": bearer("admin"),
}
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")
# 503 is the service's answer while Temporal or the store cannot be reached, or a case is slow
# to answer on a loaded machine: a partner tries again (README); any other 5xx is a defect.
CONFIG = """
[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "503"]
"""


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """The stack, with its partner directory and a case, for the links to reach."""
    running = Stack(tmp_path_factory.mktemp("fuzz"))
    try:
        await running.start()
        async with httpx.AsyncClient(base_url=running.api_url, timeout=30.0) as http:
            async def nothing() -> None:
                return None

            partner = Partner(http, nothing)
            await directory(partner)
            answer = await partner.post("/v1/notifications",
                                        notification("FUZZ-1", random.Random(1)), MARS, "case")
            assert answer.status == 201, answer
        yield running
    finally:
        await running.stop()


@pytest.mark.parametrize("role", sorted(ROLES))
async def test_no_server_error_and_every_answer_as_documented(
    stack: Stack, role: str, tmp_path: Path,
) -> None:
    seed = Plan.seed_from_env()
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "st"), "--config-file", str(config), "run",
        f"{stack.api_url}/openapi.json", "--checks", CHECKS,
        "--phases", "examples,fuzzing,stateful", "--max-examples", str(FUZZ_EXAMPLES),
        "--seed", str(seed), "--workers", "2",
        "--header", f"Authorization: {ROLES[role]['Authorization']}",
        "--request-timeout", "30", "--no-color",
        "--warnings", "off", "--report-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path)
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"seed {seed}, role {role}:\n{text[-12000:]}"
