"""Browser tests of the editor: a real ``plait serve`` on 127.0.0.1 serving ``editor/dist``, and
Debian's Chromium driven headless by Playwright (never a downloaded browser).

The server is shared by a module's tests (each test works in its own project); every test gets
a fresh, logged-in browser context. Screenshots of key states go to ``editor/test-artifacts/``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1] / "api" / "tests")]

from browserkit import ARTIFACTS, DIST, login  # noqa: E402
from chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from serverkit import Server, free_port, running_server  # noqa: E402


def _missing(what: str) -> None:
    message = f"{what}; `make test` installs and builds it (see the README)"
    if os.environ.get("PLAIT_TEST_STRICT") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    if not (DIST / "index.html").exists():
        _missing("the editor is not built (editor/dist)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def editor_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("editor-server")
    router_port = free_port()
    with running_server(
        data_dir,
        "--router-port",
        str(router_port),
        env={"PLAIT_EDITOR_DIST": str(DIST)},
    ) as server:
        server.router_url = f"http://127.0.0.1:{router_port}"  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def page(chromium_browser, editor_server: Server) -> Iterator[object]:
    """A logged-in page on the projects screen (the one-time link is redeemed per context:
    the test server issues a fresh link for each)."""
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    login(page, editor_server)
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def pytest_sessionstart(session: pytest.Session) -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
