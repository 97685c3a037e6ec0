"""Helpers for the editor's browser tests: where Chromium is, logging in, screenshots."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlsplit

from serverkit import Server

EDITOR = Path(__file__).resolve().parents[1]
ARTIFACTS = EDITOR / "test-artifacts"
DIST = EDITOR / "dist"


def login(page, server: Server) -> None:
    """Log the page in with a fresh one-time link for the workspace owner."""
    from serverkit import platform_on

    from plait.api.services import auth

    with platform_on(server.data_dir) as platform, platform.db.session() as session:
        _, _, token = auth.bootstrap(session)
        session.commit()
    page.goto(f"{server.url}/api/auth/link?token={quote(token, safe='')}")


def shot(page, name: str) -> Path:
    """Save a screenshot of a key state under editor/test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def api(page, method: str, path: str, body: object | None = None) -> object:
    """Call the API with the page's session cookie; the parsed JSON answer (asserts 2xx)."""
    origin = urlsplit(page.url)
    response = page.request.fetch(
        f"{origin.scheme}://{origin.netloc}{path}", method=method, data=body
    )
    assert response.ok, f"{method} {path}: {response.status} {response.text()}"
    return response.json() if response.status != 204 else None


def new_project(page, name: str) -> dict:
    """A fresh project (with its default stages) made through the API."""
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")[:40]
    return api(page, "POST", "/api/projects", {"name": name, "slug": slug})  # type: ignore[return-value]


def new_flow(page, project_id: str, document: dict) -> dict:
    """A flow with this document made through the API."""
    return api(  # type: ignore[return-value]
        page,
        "POST",
        f"/api/projects/{project_id}/flows",
        {"name": document["name"], "document": document},
    )
