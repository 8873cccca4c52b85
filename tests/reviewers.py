"""Assigning the tests' reviewer to a case (issue 9, item 8: a reviewer reaches only the cases
it is assigned to)."""

from __future__ import annotations

import asyncio

from httpx import AsyncClient

# The subject of `tests.conftest.as_role("reviewer")`'s token.
TEST_REVIEWER = "reviewer-tester@cspr.test"


async def assign_reviewer(api: AsyncClient, case_id: str, subject: str = TEST_REVIEWER) -> None:
    """Assign the reviewer as the MARS team, once the case store holds the case (its
    projection is an activity: up to 30 s under CI load)."""
    for _ in range(300):
        response = await api.post(f"/v1/cases/{case_id}/reviewers", json={"subject": subject},
                                  headers={"Authorization": api.headers["Authorization"]})
        if response.status_code == 201:
            return
        assert response.status_code == 404, response.text
        await asyncio.sleep(0.1)
    raise AssertionError(f"{case_id} never reached the case store")
