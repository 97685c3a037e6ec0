"""Building a platform and an HTTP client for API tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from servicekit import postgres_database

from plait.api.app import create_app
from plait.api.platform import Platform
from plait.api.services import auth
from plait.api.settings import load_settings


@contextmanager
def platform_for(kind: str, data_dir: Path, **settings: Any) -> Iterator[Platform]:
    """A migrated platform on SQLite (in ``data_dir``) or on a fresh PostgreSQL database."""
    if kind == "sqlite":
        platform = Platform(load_settings(data_dir=data_dir, **settings))
        platform.migrate()
        yield platform
        platform.db.dispose()
        return
    with postgres_database() as url:
        platform = Platform(load_settings(data_dir=data_dir, database_url=url, **settings))
        platform.migrate()
        yield platform
        platform.db.dispose()


def new_workspace(platform: Platform, name: str, role: str = "owner") -> str:
    """A workspace (made when missing) and a new API token with ``role`` in it."""
    with platform.db.session() as session:
        workspace = auth.get_or_create_workspace(session, name)
        token, _ = auth.issue_token(session, workspace.id, role, name=f"test {role}")
    return token


class Api:
    """A TestClient bound to one token: ``api.post("/api/...", json=...)``."""

    def __init__(self, client: TestClient, token: str | None) -> None:
        self.client = client
        self.token = token

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = dict(headers or {})
        if self.token:
            out.setdefault("Authorization", f"Bearer {self.token}")
        return out

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        kwargs["headers"] = self._headers(kwargs.get("headers"))
        return self.client.request(method, url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Any:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Any:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self.request("DELETE", url, **kwargs)

    def as_token(self, token: str | None) -> Api:
        return Api(self.client, token)


@contextmanager
def client_for(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, migrate=False)) as client:
        yield client
