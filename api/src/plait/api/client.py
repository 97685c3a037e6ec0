"""A small HTTP client for the CLI verbs that talk to a running Plait server.

``plait login`` stores the server's URL and an API token in
``$PLAIT_CONFIG_DIR/credentials.json`` (default ``~/.config/plait``, or
``$XDG_CONFIG_HOME/plait``), readable by the user only (mode 0600). Every other server
verb reads them from there, unless ``--server``/``--token`` (or ``PLAIT_SERVER`` /
``PLAIT_TOKEN``) say otherwise.

Failures are ``ClientError`` with one line that says what to do: the server cannot be
reached, the token was refused (401: log in again), something was not found (404).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

CONFIG_DIR_ENV = "PLAIT_CONFIG_DIR"
CREDENTIALS_FILE = "credentials.json"
DEFAULT_TIMEOUT_S = 15.0

EXIT_FAILED = 1
EXIT_USAGE = 2

LOGIN_HINT = "plait login --server URL --token TOKEN"


class ClientError(Exception):
    """A server verb that failed; ``exit_code`` is 1 for the server's answers and
    unreachable servers, 2 for what the user must fix first (no login, a bad URL)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# -- credentials ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    server: str
    token: str


def config_dir() -> Path:
    """``$PLAIT_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/plait``, else ``~/.config/plait``."""
    if configured := os.environ.get(CONFIG_DIR_ENV):
        return Path(configured)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "plait"


def credentials_path() -> Path:
    return config_dir() / CREDENTIALS_FILE


def load_credentials() -> Credentials | None:
    """The stored credentials, or None when there are none (``ClientError`` if unreadable)."""
    path = credentials_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ClientError(
            f"cannot read {path} ({exc}); log in again with `{LOGIN_HINT}`", EXIT_USAGE
        ) from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), str) for k in ("server", "token")
    ):
        raise ClientError(f"{path} is damaged; log in again with `{LOGIN_HINT}`", EXIT_USAGE)
    return Credentials(server=data["server"], token=data["token"])


def save_credentials(credentials: Credentials) -> Path:
    """Store the credentials, readable by the user only; return the file's path.

    The file is written beside its final place and renamed over it, so a reader never
    sees half a file, and it is created with mode 0600, so the token is never readable by
    others, not even for a moment.
    """
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = json.dumps({"server": credentials.server, "token": credentials.token}, indent=2)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".credentials-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:  # mkstemp makes the file 0600
            fh.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def forget_credentials() -> Path | None:
    """Remove the stored credentials; the path removed, or None when there were none."""
    path = credentials_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path


def normalize_server(url: str) -> str:
    """``localhost:8000/`` → ``http://localhost:8000``: a scheme, no trailing slash."""
    url = url.strip().rstrip("/")
    if not url:
        raise ClientError("give the server's URL, e.g. --server http://localhost:8000", EXIT_USAGE)
    if "://" not in url:
        url = "http://" + url
    if not url.startswith(("http://", "https://")):
        raise ClientError(f"{url} is not an http:// or https:// URL", EXIT_USAGE)
    return url


def resolve(server: str | None, token: str | None) -> Credentials:
    """The server and token to use: the ones given, else the stored ones."""
    stored = load_credentials()
    server = server or (stored.server if stored else None)
    token = token or (stored.token if stored else None)
    if not server or not token:
        raise ClientError(
            f"not logged in; run `{LOGIN_HINT}` first (or set PLAIT_SERVER and PLAIT_TOKEN)",
            EXIT_USAGE,
        )
    return Credentials(normalize_server(server), token)


# -- the client ----------------------------------------------------------------------------


class PlaitClient:
    """The REST API of one server, with one token. Use as a context manager."""

    def __init__(self, server: str, token: str, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.server = normalize_server(server)
        self._http = httpx.Client(
            base_url=self.server,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
        )

    def __enter__(self) -> PlaitClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, *, what: str = "", **params: Any) -> Any:
        """GET ``path`` and return the JSON body; ``ClientError`` for anything else.

        ``what`` names the thing for a 404 (``run 3f9c…``).
        """
        query = {k: v for k, v in params.items() if v is not None}
        try:
            response = self._http.get(path, params=query)
        except httpx.ConnectError as exc:
            raise ClientError(
                f"cannot reach the Plait server at {self.server} ({_reason(exc)});"
                " is `plait serve` running there?"
            ) from None
        except httpx.TimeoutException:
            raise ClientError(
                f"the Plait server at {self.server} did not answer in time; try again"
            ) from None
        except httpx.HTTPError as exc:
            raise ClientError(f"request to {self.server}{path} failed: {exc}") from None
        return self._body(response, what=what or path)

    def send(self, method: str, path: str, *, json: Any = None, what: str = "") -> Any:
        """Send a request that changes something; the JSON body of the answer (None for
        204), or ``ClientError`` with the server's own message (a 404 says what is
        missing, a 409 or 422 why the server refused)."""
        try:
            response = self._http.request(method, path, json=json)
        except httpx.ConnectError as exc:
            raise ClientError(
                f"cannot reach the Plait server at {self.server} ({_reason(exc)});"
                " is `plait serve` running there?"
            ) from None
        except httpx.TimeoutException:
            raise ClientError(
                f"the Plait server at {self.server} did not answer in time; it may still have"
                " done it, so check before trying again"
            ) from None
        except httpx.HTTPError as exc:
            raise ClientError(f"request to {self.server}{path} failed: {exc}") from None
        if response.status_code == 404:
            raise ClientError(f"{_error_message(response)} ({what or path}, on {self.server})")
        if response.status_code == 204:
            return None
        return self._body(response, what=what or path)

    def _body(self, response: httpx.Response, *, what: str) -> Any:
        message = _error_message(response)
        if response.status_code == 401:
            raise ClientError(
                f"the server at {self.server} refused the token ({message});"
                f" log in again with `{LOGIN_HINT}`"
            )
        if response.status_code == 403:
            raise ClientError(f"not allowed: {message}")
        if response.status_code == 404:
            raise ClientError(f"{what} not found on {self.server}")
        if response.status_code >= 400:
            raise ClientError(f"the server answered {response.status_code}: {message}")
        try:
            return response.json()
        except ValueError:
            raise ClientError(
                f"{self.server} did not answer like a Plait server (no JSON from"
                f" {response.request.url.path}); check --server"
            ) from None

    # The paths other clients rely on (issue 3, "core paths").

    def me(self) -> dict[str, Any]:
        return self._object(self.get("/api/auth/me"))

    def projects(self) -> list[dict[str, Any]]:
        return self._list("/api/projects")

    def project_flows(self, project_id: str) -> list[dict[str, Any]]:
        return self._list(f"/api/projects/{project_id}/flows", what="project")

    def run(self, run_id: str) -> dict[str, Any]:
        return self._object(self.get(f"/api/runs/{run_id}", what=f"run {run_id}"))

    def publish(self, flow_id: str, stage: str, version: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"stage": stage}
        if version is not None:
            body["version"] = version
        path = f"/api/flows/{flow_id}/publish"
        return self._object(self.send("POST", path, json=body, what=f"flow {flow_id}"))

    def unpublish(self, flow_id: str, stage: str) -> None:
        self.send("DELETE", f"/api/flows/{flow_id}/publish/{stage}", what=f"flow {flow_id}")

    def publications(self, project_id: str) -> list[dict[str, Any]]:
        return self._list(f"/api/projects/{project_id}/publications", what="project")

    def stage_history(self, project_id: str, stage: str) -> list[dict[str, Any]]:
        path = f"/api/projects/{project_id}/stages/{stage}/publications"
        return self._list(path, what=f"stage {stage}")

    def _object(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ClientError(f"{self.server} did not answer like a Plait server; check --server")
        return body

    def _list(self, path: str, *, what: str = "") -> list[dict[str, Any]]:
        """Every item of a listing, following its pages (``offset``) when it has them."""
        items: list[dict[str, Any]] = []
        for _ in range(10_000):  # a bound, should a server keep promising more
            body = self.get(path, what=what, offset=len(items) or None)
            page, total = _page(body)
            items.extend(item for item in page if isinstance(item, dict))
            if not page or total is None or len(items) >= total:
                break
        return items


def _page(body: Any) -> tuple[list[dict[str, Any]], int | None]:
    """A listing's items and its total: a plain list, or a page ``{"items", "total", …}``."""
    if isinstance(body, list):
        return body, None
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        total = body.get("total")
        return body["items"], total if isinstance(total, int) else None
    raise ClientError("the server's answer is not a listing; is it a Plait server of this version?")


def _error_message(response: httpx.Response) -> str:
    """The message of a ``{"error": {...}}`` body, else the status line."""
    try:
        error = response.json().get("error", {})
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    except (ValueError, AttributeError):
        pass
    return f"{response.status_code} {response.reason_phrase}"


def _reason(exc: httpx.ConnectError) -> str:
    text = str(exc)
    if "Connection refused" in text or "111" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return text or type(exc).__name__
