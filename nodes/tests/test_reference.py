"""The node reference pages in docs/nodes are what the node classes say, and complete."""

from pathlib import Path

from plait.nodes import NODES
from plait.nodes.reference import INDEX, page_name, render, stale, write

DOCS = Path(__file__).resolve().parents[2] / "docs" / "nodes"


def test_committed_pages_are_fresh():
    names = stale(DOCS, render(NODES))

    assert not names, f"stale pages in docs/nodes: {names}; run `make node-docs`"


def test_every_node_has_a_page_listed_in_the_index():
    pages = render(NODES)

    for cls in NODES:
        assert page_name(cls) in pages
        assert f"]({page_name(cls)})" in pages[INDEX]


def test_a_page_shows_params_ports_and_the_docstring():
    from plait.nodes.http import HttpRequest

    page = render([HttpRequest])["http.request.md"]

    assert page.startswith("<!-- Generated")
    assert "# `http.request` — HTTP request" in page
    assert "Send an HTTP request and output the response." in page
    assert "| `url` | `string` | required | http:// or https:// URL. |" in page
    assert '| `method` | `"GET"` \\| `"POST"`' in page
    assert "| `status` | `integer` |" in page


def test_write_removes_pages_of_nodes_that_are_gone(tmp_path):
    from plait.nodes.util import Delay

    write(tmp_path, render(NODES[:2]))
    (tmp_path / "notes.md").write_text("hand-written\n")

    write(tmp_path, render([Delay]))

    assert sorted(p.name for p in tmp_path.glob("*.md")) == [INDEX, "notes.md", "util.delay.md"]
    assert stale(tmp_path, render([Delay])) == []
