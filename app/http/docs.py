"""The REST API's interactive docs, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), loading
their scripts from our own ``/assets/vendor/``, so they work without internet.

The build copies the files there from npm (frontend/build.mjs). Before a build they come
from FastAPI's CDN defaults instead, as they always did: the API works unbuilt, so its docs
should too.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

CDN = {
    "swagger-ui-bundle.js": "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js",
    "swagger-ui.css": "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css",
    "swagger-ui-favicon.png": "https://fastapi.tiangolo.com/img/favicon.png",
    "redoc.standalone.js": "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js",
}


def install(app: FastAPI, frontend_dir: Path) -> None:
    """Serve ``/docs`` and ``/redoc``; the app is made with ``docs_url=None, redoc_url=None``."""
    vendor = frontend_dir / "assets" / "vendor"
    openapi_url = app.openapi_url or "/openapi.json"

    def url(name: str) -> str:
        # Asked on every load (a stat): a build made while the server runs is used at once.
        return f"/assets/vendor/{name}" if (vendor / name).is_file() else CDN[name]

    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} · API",
            swagger_js_url=url("swagger-ui-bundle.js"),
            swagger_css_url=url("swagger-ui.css"),
            swagger_favicon_url=url("swagger-ui-favicon.png"),
        )

    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} · API",
            redoc_js_url=url("redoc.standalone.js"),
            redoc_favicon_url=url("swagger-ui-favicon.png"),
            with_google_fonts=False,  # the page reads well in the system's fonts, offline too
        )

    app.add_api_route("/docs", swagger_ui, include_in_schema=False, response_class=HTMLResponse)
    app.add_api_route("/redoc", redoc, include_in_schema=False, response_class=HTMLResponse)
