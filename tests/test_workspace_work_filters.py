"""My work's filters for the MARS team (issue 10: "filterable by partner, kind and part"): by a
part of the case (its own steps, its LCSPR, its action plan, its differences of opinion), with
a partner and a step; and the case list by the year a case was received ("filters by stage,
overdue, kind, year"). Through the real app (ASGI),
dev server, worker and case store."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient

from domain.calendar import london_date
from tests.conftest import as_role
from tests.test_workspace_forms import browser_of, new_case  # noqa: F401


def links(text: str, case_id: str) -> set[str]:
    return set(re.findall(rf'href="(/cases/{case_id}/[^"?]+)', text))


async def test_my_work_by_part(api: AsyncClient, browser_of: Any) -> None:  # noqa: F811
    case_id = await new_case(api)
    raised = await api.post(f"/v1/cases/{case_id}/differences-of-opinion",
                            headers=as_role("ssl", "police"),
                            json={"subject": "criteria", "summary": "Threshold met"})
    assert raised.status_code == 201, raised.text
    mars, _ = browser_of("mars_team")
    resolve = f"/cases/{case_id}/differences/DOO-1/resolve"
    for _ in range(100):  # the store's copy of the case follows the workflow
        if resolve in (await mars.get("/work")).text:
            break
        await asyncio.sleep(0.1)
    everything = links((await mars.get("/work")).text, case_id)
    assert resolve in everything
    assert f"/cases/{case_id}/steps/inform-partners" in everything

    differences = links((await mars.get("/work", params={"part": "difference"})).text, case_id)
    assert differences == {resolve}
    steps = links((await mars.get("/work", params={"part": "case"})).text, case_id)
    assert resolve not in steps
    assert f"/cases/{case_id}/steps/inform-partners" in steps
    assert steps <= everything
    assert links((await mars.get("/work", params={"part": "local_review"})).text,
                 case_id) == set()
    one = links((await mars.get("/work", params={"part": "case", "step": "inform_partners"})
                 ).text, case_id)
    assert one == {f"/cases/{case_id}/steps/inform-partners"}
    page = (await mars.get("/work", params={"part": "difference"})).text
    assert '<option value="difference" selected>' in page
    # An unknown part is no filter.
    assert links((await mars.get("/work", params={"part": "nonsense"})).text,
                 case_id) == everything


async def test_cases_by_the_year_received(api: AsyncClient, browser_of: Any  # noqa: F811
                                          ) -> None:
    case_id = await new_case(api)
    this_year = london_date(datetime.now(UTC)).year
    mars, _ = browser_of("mars_team")
    found = await mars.get("/cases", params={"year": str(this_year)})
    assert found.status_code == 200
    assert f'<option value="{this_year}" selected>' in found.text
    # Newest received first: other tests' cases, received later in the year under time
    # skipping, may come before it on the first page; the filter's own pages find it.
    pages = [(await mars.get("/cases", params={"year": str(this_year), "page": str(n)})).text
             for n in range(1, 41)]
    assert any(case_id in page for page in pages)
    assert f"year={this_year}&amp;page=" in found.text or "govuk-pagination" not in found.text
    earlier = await mars.get("/cases", params={"year": str(this_year - 1)})
    assert case_id not in earlier.text
    # A year not offered is no filter: the same page as none (the case may be on a later page
    # of a long list, so the page is compared, not searched for it).
    ignored = (await mars.get("/cases", params={"year": "not a year"})).text
    unfiltered = (await mars.get("/cases")).text
    assert 'selected>' not in ignored.split('name="year"', 1)[1].split("</select>", 1)[0]
    listed = re.findall(r'href="/cases/(CSPR-[0-9A-Z-]+)"', unfiltered)
    assert listed
    assert re.findall(r'href="/cases/(CSPR-[0-9A-Z-]+)"', ignored) == listed
