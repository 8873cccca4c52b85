"""The workspace on the API's app: its pages, the GOV.UK Frontend assets and the API docs, all
served from what `make venv` installed (web/node_modules, from npm): nothing from a CDN."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.errors import ApiError
from web import session
from web.pages import HERE, render
from web.routes import (
    bank_holidays,
    board,
    calendar,
    case_file,
    cases,
    differences,
    directory,
    families,
    mail,
    meetings,
    parallel,
    reviewers,
    signin,
    steps,
    work,
)

NODE_MODULES = HERE / "node_modules"
GOVUK = NODE_MODULES / "govuk-frontend" / "dist" / "govuk"
# The API's own paths answer problem+json as they always did; the pages answer with a page.
API_PREFIXES = ("/v1/", "/codec", "/healthz", "/readyz", "/openapi.json")


def mount(app: FastAPI) -> None:
    """Add the workspace's routes, assets and offline API docs to the app."""
    # check_dir=False: the app builds before `make venv` has installed the assets (a test of
    # the API alone); then they answer 404.
    app.mount("/assets", StaticFiles(directory=GOVUK / "assets", check_dir=False),
              name="govuk-assets")  # GOV.UK Frontend's CSS looks for fonts and images here
    app.mount("/static/govuk", StaticFiles(directory=GOVUK, check_dir=False), name="govuk")
    app.mount("/static/swagger-ui", StaticFiles(directory=NODE_MODULES / "swagger-ui-dist",
                                                check_dir=False), name="swagger-ui")
    app.mount("/static/redoc", StaticFiles(directory=NODE_MODULES / "redoc" / "bundles",
                                           check_dir=False), name="redoc")
    app.mount("/static/cspr", StaticFiles(directory=HERE / "static"), name="cspr")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json", title="cspr – API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/assets/images/favicon.ico")

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="cspr – API",
                              redoc_js_url="/static/redoc/redoc.standalone.js",
                              redoc_favicon_url="/assets/images/favicon.ico",
                              with_google_fonts=False)

    for module in (signin, work, cases, case_file, directory, differences, parallel, meetings, mail,
                   reviewers, steps, calendar, bank_holidays, board, families):
        app.include_router(module.router)

    api_error = app.exception_handlers[ApiError]

    @app.exception_handler(session.SignInRequired)
    async def _sign_in(request: Request, _: Exception) -> Response:
        return RedirectResponse(f"/sign-in?next={request.url.path}", status_code=303)

    @app.exception_handler(session.CsrfRefused)
    async def _csrf(request: Request, _: Exception) -> Response:
        return render(request, "error.html", session.current(request), 403,
                      title="This form has expired",
                      message="Nothing was changed. Go back, reload the page and send it again.")

    @app.exception_handler(ApiError)
    async def _error(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(API_PREFIXES):
            answer = api_error(request, exc)
            return answer if isinstance(answer, Response) else await answer
        assert isinstance(exc, ApiError)
        problem = exc.problem
        title = "Page not found" if problem.status == 404 else problem.title
        return render(request, "error.html", session.current(request), problem.status,
                      title=title, message=problem.detail or problem.title)
