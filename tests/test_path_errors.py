"""A wrong path says what is expected (issue 9, "Bugs found trying it as a new user would":
"An unknown step in a path answers a bare 'Not Found'; a malformed case id answers with a
regex. Say what is expected")."""

from __future__ import annotations

from httpx import AsyncClient


async def test_an_unknown_step_names_the_steps_there_are(api: AsyncClient) -> None:
    response = await api.post("/v1/cases/CSPR-2026-7KQ2MX/ssl-recomendation", json={})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "No such step"
    assert problem["errors"][0]["field"] == "step"
    assert "'ssl-recomendation'" in problem["detail"]
    assert "ssl-recommendation" in problem["detail"].split(":", 1)[1]


async def test_an_unknown_lcspr_step_names_the_lcspr_steps(api: AsyncClient) -> None:
    response = await api.post("/v1/cases/CSPR-2026-7KQ2MX/local-review/final-reprot", json={})
    problem = response.json()
    assert response.status_code == 404
    assert "of the LCSPR" in problem["detail"]
    assert "final-report" in problem["detail"]


async def test_a_malformed_case_id_says_the_form_expected_not_a_regex(api: AsyncClient) -> None:
    response = await api.get("/v1/cases/case-1")
    assert response.status_code == 422
    problem = response.json()
    [error] = problem["errors"]
    assert error["field"] == "case_id"
    assert "CSPR-2026-7KQ2MX" in error["reason"]
    assert "^" not in error["reason"]
    assert "\\d" not in error["reason"]


async def test_another_unknown_path_is_still_a_plain_404(api: AsyncClient) -> None:
    response = await api.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["title"] == "Not Found"
